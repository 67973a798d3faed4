/** typing { room }: others in the room get `typing { room, user }`. Ephemeral, never stored. */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import { roomPayload, type RoomPayload } from "../schemas.js";

export function typingEvent(chat: ChatService): EventDefinition<RoomPayload> {
  return {
    name: "typing",
    schema: roomPayload,
    async handle({ room }, { socket, principal }) {
      chat.assertMayUseRoom(principal, room);
      // socket.to(): everyone in the room but this socket, on every node.
      socket.to(room).emit("typing", { room, user: principal.userId });
      return {};
    },
  };
}
