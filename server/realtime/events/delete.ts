/** delete { room, id, clientId } → { seq, ts, duplicate? }: a change to a message (docs/protocol.md v1.1), acknowledged once durably buffered. */
import type { MessageChanges } from "../../chat/changes.js";
import type { EventDefinition } from "../dispatch.js";

export function deleteEvent(changes: MessageChanges): EventDefinition {
  return {
    name: "delete",
    handle: async (payload, { principal, traceId }) => ({ ...(await changes.delete(principal, payload, traceId)) }),
  };
}
