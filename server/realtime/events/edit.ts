/** edit { room, id, clientId, text } → { seq, ts, duplicate? }: a change to a message (docs/protocol.md v1.1), acknowledged once durably buffered. */
import type { MessageChanges } from "../../chat/changes.js";
import type { EventDefinition } from "../dispatch.js";

export function editEvent(changes: MessageChanges): EventDefinition {
  return {
    name: "edit",
    handle: async (payload, { principal, traceId }) => ({ ...(await changes.edit(principal, payload, traceId)) }),
  };
}
