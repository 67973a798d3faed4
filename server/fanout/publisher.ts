/**
 * The domain's RoomPublisher on socket.io: `io.to(room).emit` goes to this node's sockets
 * through the room broadcast (room-broadcast.ts) and to the other nodes through the Redis
 * adapter (redis-adapter.ts), which deliver it to theirs.
 */
import type { Server } from "socket.io";
import type { ChatChange } from "../../storage/change.js";
import type { ChatMessage } from "../../storage/message.js";
import type { ChangePublisher, PresenceChange, RoomPublisher } from "../chat/ports.js";

export interface PublisherMetrics {
  /** Messages fanned out to a room (one per message, not per recipient). */
  messagesOut: { inc(): void };
}

export class SocketIoRoomPublisher implements RoomPublisher, ChangePublisher {
  constructor(
    private readonly io: Server,
    private readonly metrics: PublisherMetrics,
  ) {}

  message(message: ChatMessage): void {
    this.io.to(message.room).emit("message", message);
    this.metrics.messagesOut.inc();
  }

  /** v1.1 `change`: an edit, delete or reaction, to every socket that joined the room. */
  change(change: ChatChange): void {
    this.io.to(change.room).emit("change", change);
  }

  presence(change: PresenceChange): void {
    this.io.to(change.room).emit("presence", change);
  }
}
