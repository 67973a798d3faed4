/** history { room, beforeSeq?, limit? } → { messages, more }: ascending seq, newest page first. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import { historyPayload, type HistoryPayload } from "../schemas.js";

export function historyEvent(chat: ChatService): EventDefinition<HistoryPayload> {
  return {
    name: "history",
    schema: historyPayload,
    async handle({ room, beforeSeq, limit }, { principal }) {
      const page = await chat.history(principal, room, beforeSeq, limit);
      return { messages: page.messages, more: page.more };
    },
  };
}
