/**
 * typing { room }: others in the room get `typing { room, user }`, at most one per user and
 * room per interval (ChatService.typing); the others are acknowledged and dropped. Ephemeral,
 * never stored.
 */
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";

export function typingEvent(chat: ChatService): EventDefinition {
  return {
    name: "typing",
    async handle(payload, { socket, principal }) {
      const { room, deliver } = chat.typing(principal, payload);
      // socket.to(): everyone in the room but this socket, on every node.
      if (deliver) socket.to(room).emit("typing", { room, user: principal.userId });
      return {};
    },
  };
}
