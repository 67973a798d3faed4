/** leave { room } → {} */
import type { Server } from "socket.io";
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import type { Presence } from "../presence.js";
import { roomPayload, type RoomPayload } from "../schemas.js";

export function leaveEvent(io: Server, chat: ChatService, presence: Presence): EventDefinition<RoomPayload> {
  return {
    name: "leave",
    schema: roomPayload,
    async handle({ room }, { socket, principal }) {
      chat.assertMayUseRoom(principal, room);
      if (!socket.rooms.has(room)) return {};
      await socket.leave(room);
      const change = await presence.left(room, principal.userId);
      if (change) io.to(room).emit("presence", change);
      return {};
    },
  };
}
