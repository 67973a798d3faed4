/** read { room, seq } → {}: stores the user's read pointer (it only moves forward). */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import { readPayload, type ReadPayload } from "../schemas.js";

export function readEvent(chat: ChatService): EventDefinition<ReadPayload> {
  return {
    name: "read",
    schema: readPayload,
    async handle({ room, seq }, { principal }) {
      await chat.markRead(principal, room, seq);
      return {};
    },
  };
}
