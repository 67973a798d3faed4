/**
 * The load of every fault test: a known set of messages, each with a unique clientId, sent
 * through the gateway by a few users until every one is acknowledged. A send that got no ack
 * (timeout, the socket died, UNAVAILABLE) is sent again with the SAME clientId, as the protocol
 * tells clients to: the idempotency record returns the first ack, so a retry never stores twice.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { io as connect, type Socket } from "socket.io-client";
import { nodeOf } from "../fixture.js";

export interface SendAck {
  clientId: string;
  room: string;
  id: string;
  seq: number;
  duplicate: boolean;
  /** When the ack arrived (ms since the epoch). */
  at: number;
}

export interface KnownSetOptions {
  /** Gateway URL. */
  url: string;
  token(user: string, rooms: string[]): Promise<string>;
  rooms: string[];
  /** One socket each. */
  users: number;
  count: number;
  /** Pacing: message i is not sent before start + i / ratePerSecond (undefined: as fast as acks come). */
  ratePerSecond?: number;
  /** Sends in flight per user. */
  window?: number;
  /** Give up (the test then fails) when a message is still unacknowledged after this long. */
  deadlineInMs: number;
  ackTimeoutInMs?: number;
  /**
   * Called once `count * fraction` acks arrived, e.g. to inject the fault under load, with the
   * node each user is connected to at that moment (undefined while a user reconnects).
   */
  onProgress?: { fraction: number; run: (nodesOfUsers: (string | undefined)[]) => void | Promise<void> };
}

export interface KnownSetResult {
  acks: SendAck[];
  /** UNAVAILABLE answers, with the retryAfterMs each carried. */
  unavailable: number[];
  /** Sends that got no answer in time (retried). */
  timeouts: number;
  /** Every failed attempt, when it ended (ms since the epoch): what a test checks against its fault's window. */
  failures: { at: number; kind: "UNAVAILABLE" | "timeout" }[];
  /** Sockets that had to be opened again. */
  reconnects: number;
  seconds: number;
}

interface Reply {
  ok: boolean;
  id?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code: string; message: string; retryAfterMs?: number };
}

/** A user's connection through the gateway, opened again whenever it drops. */
class UserConnection {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  reconnects = 0;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** The node the socket is connected to (the prefix of its session id), if connected. */
  node(): string | undefined {
    return this.socket?.connected ? nodeOf(this.socket) : undefined;
  }

  /** The connected socket; concurrent callers share one connection attempt. */
  ready(deadline: number): Promise<Socket> {
    if (this.socket?.connected) return Promise.resolve(this.socket);
    this.connecting ??= this.connect(deadline).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(deadline: number): Promise<Socket> {
    while (!this.socket?.connected) {
      if (Date.now() > deadline) throw new Error("could not connect through the gateway before the deadline");
      this.socket?.disconnect();
      const socket = connect(this.url, { auth: { token: this.token }, reconnection: false, forceNew: true, transports: ["websocket"] });
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("connect timeout")), 5000);
          socket.once("connect", () => (clearTimeout(timer), resolve()));
          socket.once("connect_error", (error) => (clearTimeout(timer), reject(error)));
        });
        if (this.socket) this.reconnects++;
        this.socket = socket;
      } catch {
        socket.disconnect();
        // A dead backend the gateway has not marked down yet; the next try goes elsewhere.
        await sleep(200);
      }
    }
    return this.socket;
  }

  close(): void {
    this.socket?.disconnect();
  }
}

export async function sendKnownSet(options: KnownSetOptions): Promise<KnownSetResult> {
  const { url, rooms, users, count, ratePerSecond, window = 10, deadlineInMs, ackTimeoutInMs = 5000, onProgress } = options;
  const started = Date.now();
  const deadline = started + deadlineInMs;
  // Unique per call: user names land in the Cassandra keyspace other test files share.
  const run = `${started.toString(36)}-${randomBytes(3).toString("hex")}`;
  const connections = await Promise.all(
    Array.from({ length: users }, async (_, u) => new UserConnection(url, await options.token(`sender-${run}-${u}`, rooms))),
  );
  const result: KnownSetResult = { acks: [], unavailable: [], timeouts: 0, failures: [], reconnects: 0, seconds: 0 };
  let progressFired = false;
  let progressRun: Promise<void> = Promise.resolve();

  const sendOne = async (i: number): Promise<void> => {
    const connection = connections[i % users]!;
    const room = rooms[i % rooms.length]!;
    const clientId = `${run}-${i}`;
    if (ratePerSecond !== undefined) {
      const due = started + (i * 1000) / ratePerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    for (;;) {
      if (Date.now() > deadline) throw new Error(`message ${clientId} still unacknowledged after ${deadlineInMs} ms`);
      const socket = await connection.ready(deadline);
      let reply: Reply;
      try {
        reply = (await socket.timeout(ackTimeoutInMs).emitWithAck("send", { room, clientId, text: `message ${i}` })) as Reply;
      } catch {
        result.timeouts++;
        result.failures.push({ at: Date.now(), kind: "timeout" });
        continue;
      }
      if (reply.ok) {
        result.acks.push({ clientId, room, id: reply.id!, seq: reply.seq!, duplicate: reply.duplicate === true, at: Date.now() });
        if (onProgress && !progressFired && result.acks.length >= count * onProgress.fraction) {
          progressFired = true;
          progressRun = Promise.resolve(onProgress.run(connections.map((c) => c.node())));
        }
        return;
      }
      if (reply.error?.code !== "UNAVAILABLE") throw new Error(`send ${clientId} refused: ${JSON.stringify(reply.error)}`);
      result.unavailable.push(reply.error.retryAfterMs ?? -1);
      result.failures.push({ at: Date.now(), kind: "UNAVAILABLE" });
      await sleep(Math.min(reply.error.retryAfterMs ?? 1000, 2000));
    }
  };

  // Each user sends its share with `window` sends in flight.
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: users * window }, async () => {
        while (next < count) await sendOne(next++);
      }),
    );
    await progressRun;
  } finally {
    for (const connection of connections) {
      result.reconnects += connection.reconnects;
      connection.close();
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
