/** history { room, beforeSeq?, limit? } → { messages, more }: ascending seq, newest page first. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";

export function historyEvent(chat: ChatService): EventDefinition {
  return {
    name: "history",
    async handle(payload, { principal }) {
      const page = await chat.history(principal, payload);
      return { messages: page.messages, more: page.more };
    },
  };
}
