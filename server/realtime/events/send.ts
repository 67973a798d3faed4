/** send { room, clientId, text, meta? } → { id, seq, ts, duplicate? }; acknowledged once durably buffered. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";

export function sendEvent(chat: ChatService): EventDefinition {
  return {
    name: "send",
    handle: async (payload, { principal, traceId }) => ({ ...(await chat.send(principal, payload, traceId)) }),
  };
}
