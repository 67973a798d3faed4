/** read { room, seq } → {}: stores the user's read pointer (it only moves forward). */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";

export function readEvent(chat: ChatService): EventDefinition {
  return {
    name: "read",
    async handle(payload, { principal }) {
      await chat.markRead(principal, payload);
      return {};
    },
  };
}
