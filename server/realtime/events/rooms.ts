/** rooms {} → { rooms: [{ room, lastSeq, readSeq, unread }] }: the user's rooms. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import { emptyPayload } from "../schemas.js";

export function roomsEvent(chat: ChatService): EventDefinition<Record<string, never> | undefined> {
  return {
    name: "rooms",
    schema: emptyPayload,
    handle: async (_payload, { principal }) => ({ rooms: await chat.rooms(principal) }),
  };
}
