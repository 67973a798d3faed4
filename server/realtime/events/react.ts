/** react { room, id, clientId, emoji, on } → { seq, ts, duplicate? }: a change to a message (docs/protocol.md v1.1), acknowledged once durably buffered. */
import type { MessageChanges } from "../../chat/changes.js";
import type { EventDefinition } from "../dispatch.js";

export function reactEvent(changes: MessageChanges): EventDefinition {
  return {
    name: "react",
    handle: async (payload, { principal, traceId }) => ({ ...(await changes.react(principal, payload, traceId)) }),
  };
}
