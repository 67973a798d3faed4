/** presence { room } → { users }: users online in the room, cluster-wide. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import type { Presence } from "../presence.js";

export function presenceEvent(chat: ChatService, presence: Presence): EventDefinition {
  return {
    name: "presence",
    async handle(payload, { principal }) {
      const { room } = chat.authorizeRoom(principal, payload);
      return { users: await presence.online(room) };
    },
  };
}
