/**
 * The one validation step of each command (docs/protocol.md "Client → server"), the same for the
 * socket events and the REST API. In this order, which is the order of the answers a client
 * sees: the payload's shape (BAD_REQUEST), the user's permission for the room (FORBIDDEN),
 * then the sizes (BAD_REQUEST for a long clientId, TOO_LARGE for text and meta) and caps
 * (LIMIT_REACHED for a join past the socket's rooms).
 *
 * Unknown extra fields are ignored, so newer clients keep working with this server. The send
 * rate and the write buffer's cap are not checked here: they are cluster-wide counters that
 * the message log checks atomically with the append (see ChatService.send). The budget every
 * event draws on is charged before any of this (ChatService.admit), so malformed events pay too.
 */
import { z } from "zod";
import { ChatError } from "./errors.js";
import type { Limits } from "./limits.js";
import { ROOM_ID } from "./names.js";
import type { Principal } from "./principal.js";

const room = z.string().regex(ROOM_ID, "room must match ^[A-Za-z0-9_.:-]{1,128}$");
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const roomPayload = z.object({ room });
const joinPayload = z.object({ room, since: seq.optional() });
const sendPayload = z.object({
  room,
  clientId: z.string().min(1, "clientId must not be empty"),
  text: z.string(),
  meta: z.record(z.string(), z.unknown()).optional(),
});
const historyPayload = z.object({
  room,
  beforeSeq: seq.min(1).optional(),
  limit: z.number().int().min(1).max(100).optional(),
});
const readPayload = z.object({ room, seq });
/** docs/protocol.md v1.1: an emoji is 1–32 characters. */
export const MAX_EMOJI_CHARS = 32;
/** A change's target: any string a client could hold as an id; one that is not ours is NOT_FOUND later. */
const targetId = z.string().min(1, "id must not be empty").max(64, "id must be at most 64 characters");
const clientId = z.string().min(1, "clientId must not be empty");
const editPayload = z.object({ room, id: targetId, clientId, text: z.string() });
const deletePayload = z.object({ room, id: targetId, clientId });
const reactPayload = z.object({
  room,
  id: targetId,
  clientId,
  // Characters as users count them (code points): an emoji with a skin tone is 2, not 4.
  emoji: z
    .string()
    .refine((emoji) => [...emoji].length >= 1 && [...emoji].length <= MAX_EMOJI_CHARS, `emoji must be 1 to ${MAX_EMOJI_CHARS} characters`),
  on: z.boolean(),
});
/** `rooms` takes `{ limit?, after? }`; a missing payload is the first page of the default size. */
export const ROOMS_PAGE_DEFAULT = 100;
export const ROOMS_PAGE_MAX = 200;
const roomsPayload = z
  .object({
    limit: z.number().int().min(1).max(ROOMS_PAGE_MAX).optional(),
    after: z.string().min(1).max(512).optional(),
  })
  .optional();

/** leave, typing and presence: a room the user may use. */
export type RoomCommand = z.infer<typeof roomPayload>;
export type JoinCommand = z.infer<typeof joinPayload>;
export type SendCommand = z.infer<typeof sendPayload>;
export type HistoryCommand = z.infer<typeof historyPayload>;
export type ReadCommand = z.infer<typeof readPayload>;
export type EditCommand = z.infer<typeof editPayload>;
export type DeleteCommand = z.infer<typeof deletePayload>;
export type ReactCommand = z.infer<typeof reactPayload>;
export type RoomsCommand = { limit: number; after: string | undefined };

/** What `join` needs to know of the socket's rooms to apply the per-socket cap. */
export interface JoinedRooms {
  has(room: string): boolean;
  /** Rooms the socket has joined. */
  readonly count: number;
}

export class CommandValidator {
  constructor(private readonly limits: Limits) {}

  room(principal: Principal, input: unknown): RoomCommand {
    return this.permitted(principal, parse(roomPayload, input));
  }

  join(principal: Principal, input: unknown, joined: JoinedRooms): JoinCommand {
    const command = this.permitted(principal, parse(joinPayload, input));
    if (!joined.has(command.room) && joined.count >= this.limits.roomsPerSocket) {
      throw new ChatError("LIMIT_REACHED", `a connection may join at most ${this.limits.roomsPerSocket} rooms; leave one first`);
    }
    return command;
  }

  send(principal: Principal, input: unknown): SendCommand {
    const command = this.permitted(principal, parse(sendPayload, input));
    this.checkSizes(command);
    return command;
  }

  history(principal: Principal, input: unknown): HistoryCommand {
    return this.permitted(principal, parse(historyPayload, input));
  }

  read(principal: Principal, input: unknown): ReadCommand {
    return this.permitted(principal, parse(readPayload, input));
  }

  /** edit: the shape, the room, then the sizes of `send` (clientId, text). */
  edit(principal: Principal, input: unknown): EditCommand {
    const command = this.permitted(principal, parse(editPayload, input));
    this.checkSizes(command);
    return command;
  }

  delete(principal: Principal, input: unknown): DeleteCommand {
    const command = this.permitted(principal, parse(deletePayload, input));
    this.checkSizes({ ...command, text: "" });
    return command;
  }

  react(principal: Principal, input: unknown): ReactCommand {
    const command = this.permitted(principal, parse(reactPayload, input));
    this.checkSizes({ ...command, text: "" });
    return command;
  }

  rooms(input: unknown): RoomsCommand {
    const { limit = ROOMS_PAGE_DEFAULT, after } = parse(roomsPayload, input) ?? {};
    return { limit, after };
  }

  private permitted<C extends { room: string }>(principal: Principal, command: C): C {
    if (!principal.rooms.allows(principal.userId, command.room)) throw new ChatError("FORBIDDEN", `no permission for room ${command.room}`);
    return command;
  }

  private checkSizes({ clientId, text, meta }: Pick<SendCommand, "clientId" | "text" | "meta">): void {
    const { limits } = this;
    if (clientId.length > limits.maxClientIdChars)
      throw new ChatError("BAD_REQUEST", `clientId must be at most ${limits.maxClientIdChars} characters`);
    if (text.length > limits.maxTextChars) throw new ChatError("TOO_LARGE", `text must be at most ${limits.maxTextChars} characters`);
    if (meta !== undefined && metaBytes(meta) > limits.maxMetaBytes) {
      throw new ChatError("TOO_LARGE", `meta must be at most ${limits.maxMetaBytes} bytes as JSON`);
    }
  }
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ChatError("BAD_REQUEST", describeIssue(parsed.error));
  return parsed.data;
}

/** The first problem of a failed parse, phrased for a client. */
function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "malformed payload";
  const path = issue.path.join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Size of meta as JSON. A structure nested deeply enough to overflow JSON.stringify's stack is
 * far larger than any limit once serialised, so it counts as too large.
 */
function metaBytes(meta: Record<string, unknown>): number {
  try {
    return Buffer.byteLength(JSON.stringify(meta));
  } catch (error) {
    if (error instanceof RangeError) return Number.POSITIVE_INFINITY;
    throw error;
  }
}
