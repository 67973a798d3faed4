/** join, leave and history: membership of socket.io rooms and reads of a room's timeline. */
import type { Logger } from "../../../common/logger.js";
import type { History } from "../../../storage/history.js";
import { ChatError } from "../../errors.js";
import type { EventContext, EventDefinition } from "../dispatch.js";
import { fromStorage } from "../dispatch.js";
import { mayUseRoom } from "../names.js";
import { historyPayload, joinPayload, leavePayload, type HistoryPayload, type JoinPayload, type LeavePayload } from "../schemas.js";

/** At most this many missed messages come back with `join { since }`. */
export const JOIN_CATCH_UP_LIMIT = 500;
export const HISTORY_DEFAULT_LIMIT = 50;

export function assertMayUseRoom({ principal }: EventContext, room: string): void {
  if (!mayUseRoom(principal.userId, principal.roomPatterns, room)) throw new ChatError("FORBIDDEN", `no permission for room ${room}`);
}

export function joinEvent(history: History, logger: Logger): EventDefinition<JoinPayload> {
  return {
    name: "join",
    schema: joinPayload,
    async handle({ room, since }, context) {
      assertMayUseRoom(context, room);
      // Join first, read second: a message sent in between is both delivered live and returned,
      // and the client de-duplicates by seq; the other order could lose it.
      await context.socket.join(room);
      if (since === undefined) return { room, seq: await fromStorage(logger, "latest seq", () => history.latestSeq(room)) };
      const missed = await fromStorage(logger, "join since", () => history.since(room, since, JOIN_CATCH_UP_LIMIT));
      return { room, seq: missed.latest, messages: missed.messages, more: missed.more };
    },
  };
}

export function leaveEvent(): EventDefinition<LeavePayload> {
  return {
    name: "leave",
    schema: leavePayload,
    async handle({ room }, context) {
      await context.socket.leave(room);
      return {};
    },
  };
}

export function historyEvent(history: History, logger: Logger): EventDefinition<HistoryPayload> {
  return {
    name: "history",
    schema: historyPayload,
    async handle({ room, beforeSeq, limit }, context) {
      assertMayUseRoom(context, room);
      const page = await fromStorage(logger, "history", () => history.page(room, beforeSeq, limit ?? HISTORY_DEFAULT_LIMIT));
      return { messages: page.messages, more: page.more };
    },
  };
}
