/**
 * The correlation id of one client action (a socket event, a REST request), logged as the ECS
 * field `trace.id` on every line about that action, by every process it goes through: the node
 * that received it, the Redis stream entry it became (field "t", storage/stream/entries.ts),
 * the flusher that projected that entry into Cassandra or dead-lettered it.
 *
 * Why `trace.id`: in ECS it is the id that groups the events of one request across services
 * ("a user request handled by multiple inter-connected services"), which is exactly this id's
 * job; Kibana's log views link and filter on it. `event.id` must be unique per event (each log
 * line is one), and `transaction.id` names one service's part of a trace, so neither fits an
 * id shared by the node's line and the flusher's.
 *
 * The node makes the id (newTraceId), or takes the client's `X-Request-Id` when it is
 * well-formed (traceIdFromClient): a client that logs its own request ids can then find the
 * server's lines for one of them.
 */
import { randomFillSync } from "node:crypto";

/** The ECS field name, as @elastic/ecs-pino-format writes its own dotted fields. */
export const TRACE_ID_FIELD = "trace.id";

export interface TraceFields {
  "trace.id"?: string;
}

/**
 * A client's id longer than this is not taken (a new one is made): it is stored in every stream
 * entry of the action and logged on every line, so its size is bounded. 64 fits a UUID (36),
 * a W3C trace id (32 hex), a ULID (26) and most request-id schemes.
 */
export const MAX_CLIENT_TRACE_ID_LENGTH = 64;

/** Letters, digits and the punctuation of common id schemes (UUID, ULID, base64/base64url): nothing that could forge a log field or line. */
const CLIENT_TRACE_ID = /^[A-Za-z0-9._:+/=-]+$/;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/**
 * 12 Crockford base-32 characters: 60 random bits, in 12 bytes of a stream entry (a UUID's
 * text is 36). Unique enough for what it is for: finding one action's lines among the ones
 * of the same minutes (a collision among a billion ids has a probability of ~40%, and even
 * then the two actions differ in time, room and user).
 */
const TRACE_ID_CHARS = 12;

/** Random bytes are drawn 4 KB at a time: one call into the CSPRNG per ~340 ids, not per id. */
const randomPool = Buffer.alloc(4096);
let randomPoolOffset = randomPool.length;

/** A new correlation id for an action, e.g. "7ZK3M0Q9D2XH". */
export function newTraceId(): string {
  if (randomPoolOffset + TRACE_ID_CHARS > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  let out = "";
  for (let i = 0; i < TRACE_ID_CHARS; i++) out += CROCKFORD[randomPool[randomPoolOffset + i]! & 31];
  randomPoolOffset += TRACE_ID_CHARS;
  return out;
}

/** The client's id (an `X-Request-Id` header) when it is well-formed and short enough; undefined otherwise. */
export function traceIdFromClient(value: string | undefined): string | undefined {
  if (value === undefined || value.length === 0 || value.length > MAX_CLIENT_TRACE_ID_LENGTH) return undefined;
  return CLIENT_TRACE_ID.test(value) ? value : undefined;
}

/** The field to spread into a log line's object; nothing when the action has no id (an entry of an older version). */
export function traceFields(traceId: string | undefined): TraceFields {
  return traceId === undefined ? {} : { "trace.id": traceId };
}
