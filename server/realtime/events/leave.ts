/** leave { room } → {} */
import type { RoomPublisher } from "../../chat/ports.js";
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import type { Presence } from "../presence.js";

export function leaveEvent(chat: ChatService, presence: Presence, publisher: RoomPublisher): EventDefinition {
  return {
    name: "leave",
    async handle(payload, { socket, principal }) {
      const { room } = chat.authorizeRoom(principal, payload);
      if (!socket.rooms.has(room)) return {};
      await socket.leave(room);
      const change = await presence.left(room, principal.userId);
      if (change) publisher.presence(change);
      return {};
    },
  };
}
