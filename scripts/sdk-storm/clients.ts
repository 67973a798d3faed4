/**
 * The people of a storm run: SDK clients (ChatClient on the real socket.io transport) that
 * record what the storm is judged by: when they lost their session after the fault, when the
 * SDK said every room was caught up again (its `synced` event), and the seqs of the `message`
 * events they emitted per room.
 */
import { ChatClient } from "../../client/client.js";
import type { BackoffOptions } from "../../client/backoff.js";
import type { ChatError } from "../../client/errors.js";
import { socketIoTransport } from "../../client/socketio-transport.js";

export interface RecordedClient {
  userId: string;
  rooms: string[];
  client: ChatClient;
  /** Seqs of the `message` events, per room, in the order emitted. */
  emitted: Map<string, number[]>;
  errors: ChatError[];
  /** Set by the run at the fault: from then on the first loss and the first `synced` are recorded. */
  faultAt?: number;
  /** When the client saw its session go (state left `connected`) after the fault. */
  downAt?: number;
  /** The first session opened again after downAt. */
  reconnectedAt?: number;
  /** The first `synced` after downAt. */
  syncedAt?: number;
  /** Called at that `synced`, to check what the room models hold at that moment. */
  onCaughtUp?: (client: RecordedClient) => void;
}

export interface ClientOptions {
  userId: string;
  rooms: string[];
  url: string;
  token: string;
  /** The SDK's defaults unless given (what an application gets). */
  backoff?: BackoffOptions;
}

export function recordedClient({ userId, rooms, url, token, backoff }: ClientOptions): RecordedClient {
  // WebSocket only, as a Node client would; a browser would start with polling.
  const client = new ChatClient({ token, transport: socketIoTransport(url, { transports: ["websocket"] }), backoff });
  const recorded: RecordedClient = { userId, rooms, client, emitted: new Map(rooms.map((room) => [room, []])), errors: [] };
  client.on("message", (message) => recorded.emitted.get(message.room)?.push(message.seq));
  client.on("error", (error) => recorded.errors.push(error));
  client.on("state", (state) => {
    if (recorded.faultAt === undefined) return;
    if (recorded.downAt === undefined && state !== "connected") recorded.downAt = Date.now();
    else if (recorded.downAt !== undefined && recorded.reconnectedAt === undefined && state === "connected")
      recorded.reconnectedAt = Date.now();
  });
  client.on("synced", () => {
    if (recorded.downAt === undefined || recorded.syncedAt !== undefined) return;
    recorded.syncedAt = Date.now();
    recorded.onCaughtUp?.(recorded);
  });
  client.connect();
  return recorded;
}

/** Joins every room of every client, `concurrency` clients at a time (a crowd arriving, not one burst). */
export async function joinAll(clients: RecordedClient[], concurrency = 50): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < clients.length) {
      const recorded = clients[next++]!;
      await Promise.all(recorded.rooms.map((room) => recorded.client.join(room)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker));
}
