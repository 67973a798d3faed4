/**
 * The PNG chart: one bar per target, its length the share of the budget used (value / limit
 * for a ceiling, limit / value for a floor), so every target sits on the same line at 1.0 and
 * a bar past it is a miss. Drawn as SVG, rendered by resvg with the system's fonts.
 */
import { Resvg } from "@resvg/resvg-js";
import { budgetUsed, formatValue, type Check } from "./checks.js";

const WIDTH = 1180;
const ROW = 30;
const LEFT = 430;
const RIGHT = 230;
const TOP = 70;

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function chartSvg(checks: readonly Check[], title: string, subtitle: string): string {
  const height = TOP + checks.length * ROW + 50;
  const maxUsed = Math.max(1.5, ...checks.map((c) => Math.min(budgetUsed(c), 6)));
  const scale = (WIDTH - LEFT - RIGHT) / maxUsed;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="DejaVu Sans" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="28" font-size="18" font-weight="bold">${escape(title)}</text>`,
    `<text x="20" y="50" fill="#555">${escape(subtitle)}</text>`,
  ];
  checks.forEach((c, i) => {
    const y = TOP + i * ROW;
    const used = budgetUsed(c);
    const length = Number.isFinite(used) ? Math.min(used, maxUsed) * scale : 0;
    parts.push(`<text x="${LEFT - 10}" y="${y + 18}" text-anchor="end">${escape(`${c.item}. ${c.what}`)}</text>`);
    parts.push(
      `<rect x="${LEFT}" y="${y + 5}" width="${length.toFixed(1)}" height="${ROW - 10}" fill="${c.met ? "#2e8b57" : "#c0392b"}"/>`,
    );
    // The label starts past the bar or the target line, whichever is further right, so neither hides it.
    parts.push(
      `<text x="${Math.max(LEFT + length, LEFT + scale) + 6}" y="${y + 18}" fill="#333">${escape(`${formatValue(c.value, c.unit)} (${c.kind === "max" ? "≤" : "≥"} ${formatValue(c.limit, c.unit)})`)}</text>`,
    );
  });
  const targetX = LEFT + scale;
  parts.push(
    `<line x1="${targetX}" y1="${TOP - 5}" x2="${targetX}" y2="${TOP + checks.length * ROW}" stroke="#222" stroke-dasharray="4 3"/>`,
  );
  parts.push(
    `<text x="${targetX}" y="${TOP + checks.length * ROW + 18}" text-anchor="middle">target (bar = share of the budget used; past the line = missed)</text>`,
  );
  parts.push("</svg>");
  return parts.join("\n");
}

export function renderPng(svg: string): Buffer {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" }, background: "white" }).render().asPng();
}
