/** join { room, since? } → { room, seq, messages?, more? } */
import type { RoomPublisher } from "../../chat/ports.js";
import type { ChatService } from "../../chat/service.js";
import type { EventDefinition } from "../dispatch.js";
import type { Presence } from "../presence.js";

export function joinEvent(chat: ChatService, presence: Presence, publisher: RoomPublisher): EventDefinition {
  return {
    name: "join",
    async handle(payload, { socket, principal }) {
      // socket.rooms holds the socket's own id-room too: not one the user joined.
      const command = chat.authorizeJoin(principal, payload, { has: (room) => socket.rooms.has(room), count: socket.rooms.size - 1 });
      const { room } = command;
      if (!socket.rooms.has(room)) {
        // Join first, read second: a message sent in between is both delivered live and
        // returned, and the client de-duplicates by seq; the other order could lose it.
        await socket.join(room);
        const change = await presence.joined(room, principal.userId);
        if (change) publisher.presence(change);
      }
      return { room, ...(await chat.joinState(principal, command)) };
    },
  };
}
