/** Conversions of values read from Cassandra rows. */
import type cassandra from "cassandra-driver";

/** A bigint column as a JS number (seqs stay far below 2^53); null, an unset column, is 0. */
export function bigintToNumber(value: unknown): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : (value as cassandra.types.Long).toNumber();
}
