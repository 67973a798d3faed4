/** presence { room } → { users }: users online in the room, cluster-wide. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import type { Presence } from "../presence.js";
import { roomPayload, type RoomPayload } from "../schemas.js";

export function presenceEvent(chat: ChatService, presence: Presence): EventDefinition<RoomPayload> {
  return {
    name: "presence",
    schema: roomPayload,
    async handle({ room }, { principal }) {
      chat.assertMayUseRoom(principal, room);
      return { users: await presence.online(room) };
    },
  };
}
