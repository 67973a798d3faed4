/** rooms { limit?, after? } → { rooms: [{ room, lastSeq, readSeq, unread }], next? }: a page of the user's rooms. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";

export function roomsEvent(chat: ChatService): EventDefinition {
  return {
    name: "rooms",
    handle: async (payload, { principal }) => ({ ...(await chat.rooms(principal, payload)) }),
  };
}
