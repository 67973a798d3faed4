/** Parsing of XREADGROUP / XAUTOCLAIM replies into typed entries. */

export interface StreamEntry {
  stream: string;
  /** The Redis stream entry id, e.g. "1700000000000-0". */
  id: string;
  /** Field "m": the message JSON written by the append script. */
  payload: string | undefined;
}

type RawEntry = [id: string, fields: string[] | null];
type RawStreamReply = [stream: string, entries: RawEntry[]][] | null;

export function parseReadReply(reply: unknown): StreamEntry[] {
  const streams = reply as RawStreamReply;
  if (!streams) return [];
  const out: StreamEntry[] = [];
  for (const [stream, entries] of streams) {
    for (const [id, fields] of entries) out.push({ stream, id, payload: fieldValue(fields, "m") });
  }
  return out;
}

function fieldValue(fields: string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
