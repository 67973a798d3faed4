/**
 * The fields of a write-buffer stream entry, and the parsing of XREADGROUP / XAUTOCLAIM
 * replies into typed entries.
 *
 * An entry is written by the append and change scripts (append-script.ts, change-script.ts) as
 *   m  the message or change JSON
 *   t  the correlation id of the client action that made it (common/trace-id.ts), if it had one
 * "t" is new: entries written by an earlier version (still in the buffer during a rolling
 * update) have only "m", and parse with `traceId` undefined. Field names are one letter: Redis
 * stores them once per stream node (listpack) as long as consecutive entries have the same
 * fields, and in every entry otherwise.
 */

/** Field of the message or change JSON. */
export const PAYLOAD_FIELD = "m";
/** Field of the correlation id. */
export const TRACE_FIELD = "t";

export interface StreamEntry {
  stream: string;
  /** The Redis stream entry id, e.g. "1700000000000-0". */
  id: string;
  /** Field "m": the message JSON written by the append script. */
  payload: string | undefined;
  /** Field "t": the client action's correlation id; undefined for entries written without one. */
  traceId?: string;
}

type RawEntry = [id: string, fields: string[] | null];
type RawStreamReply = [stream: string, entries: RawEntry[]][] | null;

export function parseReadReply(reply: unknown): StreamEntry[] {
  const streams = reply as RawStreamReply;
  if (!streams) return [];
  const out: StreamEntry[] = [];
  for (const [stream, entries] of streams) {
    for (const [id, fields] of entries) out.push(parseEntry(stream, id, fields));
  }
  return out;
}

/**
 * One entry from its field list as Redis returns it ([name, value, name, value, ...]; null for
 * an entry deleted while pending). Unknown fields are ignored, so a later version may add more.
 */
export function parseEntry(stream: string, id: string, fields: string[] | null): StreamEntry {
  let payload: string | undefined;
  let traceId: string | undefined;
  if (fields) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === PAYLOAD_FIELD) payload = fields[i + 1];
      else if (fields[i] === TRACE_FIELD && fields[i + 1] !== "") traceId = fields[i + 1];
    }
  }
  return traceId === undefined ? { stream, id, payload } : { stream, id, payload, traceId };
}

/** The trace field's [name, value] to append to an XADD's fields, or nothing when there is no id. */
export function traceFieldArgs(traceId: string | undefined): string[] {
  return traceId === undefined || traceId === "" ? [] : [TRACE_FIELD, traceId];
}
