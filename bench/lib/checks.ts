/**
 * The targets, each turned into one row of the results table: what was measured, what
 * it was compared with, the ratio or the figure that the target constrains, and whether it held.
 */
export interface Check {
  item: number;
  what: string;
  ours: string;
  reference: string;
  /** The number the target constrains (a ratio or an absolute figure in `unit`). */
  value: number;
  unit: string;
  /** "max": value must be ≤ limit; "min": value must be ≥ limit. */
  kind: "max" | "min";
  limit: number;
  met: boolean;
  note?: string;
}

export function check(fields: Omit<Check, "met">): Check {
  const met = Number.isFinite(fields.value) && (fields.kind === "max" ? fields.value <= fields.limit : fields.value >= fields.limit);
  return { ...fields, met };
}

/** How much of the allowed budget the value uses: ≤ 1 means the target is met. */
export function budgetUsed(c: Check): number {
  return c.kind === "max" ? c.value / c.limit : c.limit / c.value;
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "n/a";
  if (unit === "×") return `${value.toFixed(2)}×`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(2)} ${unit}`;
}

export function markdownTable(checks: readonly Check[]): string {
  const lines = [
    "| # | measure | ours | reference | value | target | met |",
    "|---|---|---|---|---|---|---|",
    ...checks.map(
      (c) =>
        `| ${c.item} | ${c.what} | ${c.ours} | ${c.reference} | ${formatValue(c.value, c.unit)} | ${c.kind === "max" ? "≤" : "≥"} ${formatValue(c.limit, c.unit)} | ${c.met ? "yes" : "**no**"} |`,
    ),
  ];
  return lines.join("\n");
}
