/**
 * Payload schemas of the client events (PROTOCOL.md "Client → server"). A payload that does
 * not match is BAD_REQUEST; size limits are checked separately so they answer TOO_LARGE.
 * Unknown extra fields are ignored, so newer clients keep working with this server.
 */
import { z } from "zod";
import { ROOM_ID } from "./names.js";

const room = z.string().regex(ROOM_ID, "room must match ^[A-Za-z0-9_.:-]{1,128}$");
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const roomPayload = z.object({ room });
export const joinPayload = z.object({ room, since: seq.optional() });
export const sendPayload = z.object({
  room,
  clientId: z.string().min(1, "clientId must not be empty"),
  text: z.string(),
  meta: z.record(z.string(), z.unknown()).optional(),
});
export const historyPayload = z.object({
  room,
  beforeSeq: seq.min(1).optional(),
  limit: z.number().int().min(1).max(100).optional(),
});
export const readPayload = z.object({ room, seq });
/** `rooms` takes `{}`; a missing payload is accepted as `{}` too. */
export const emptyPayload = z.object({}).optional();

export type RoomPayload = z.infer<typeof roomPayload>;
export type JoinPayload = z.infer<typeof joinPayload>;
export type SendPayload = z.infer<typeof sendPayload>;
export type HistoryPayload = z.infer<typeof historyPayload>;
export type ReadPayload = z.infer<typeof readPayload>;

/** The first problem of a failed parse, phrased for a client. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "malformed payload";
  const path = issue.path.join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}
