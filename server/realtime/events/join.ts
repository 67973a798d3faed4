/** join { room, since? } → { room, seq, messages?, more? } */
import type { Server } from "socket.io";
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import type { Presence } from "../presence.js";
import { joinPayload, type JoinPayload } from "../schemas.js";

export function joinEvent(io: Server, chat: ChatService, presence: Presence): EventDefinition<JoinPayload> {
  return {
    name: "join",
    schema: joinPayload,
    async handle({ room, since }, { socket, principal }) {
      chat.assertMayUseRoom(principal, room);
      if (!socket.rooms.has(room)) {
        // Join first, read second: a message sent in between is both delivered live and
        // returned, and the client de-duplicates by seq; the other order could lose it.
        await socket.join(room);
        const change = await presence.joined(room, principal.userId);
        if (change) io.to(room).emit("presence", change);
      }
      return { room, ...(await chat.joinState(principal, room, since)) };
    },
  };
}
