/** send { room, clientId, text, meta? } → { id, seq, ts, duplicate? }; acknowledged once durably buffered. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import { sendPayload, type SendPayload } from "../schemas.js";

export function sendEvent(chat: ChatService): EventDefinition<SendPayload> {
  return {
    name: "send",
    schema: sendPayload,
    handle: async (payload, { principal }) => ({ ...(await chat.send(principal, payload)) }),
  };
}
