/**
 * A room member that behaves as docs/protocol.md tells a client to: a stock socket.io client with
 * its own reconnection; on every (re)connect it joins with `since` = the highest seq it holds
 * without a gap, pages while `more`, and when a live `message` skips a seq it fills the gap the
 * same way. Tests compare what it ends up holding with the acknowledged set.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { io as connect, type Socket } from "socket.io-client";

interface Delivered {
  seq: number;
  id: string;
}

interface JoinReply {
  ok: boolean;
  seq?: number;
  messages?: Delivered[];
  more?: boolean;
}

export class RoomMember {
  /** seq → id of every message it holds. */
  readonly held = new Map<number, string>();
  private readonly socket: Socket;
  private contiguous = 0;
  private catchingUp: Promise<void> | undefined;
  private catchUpAgain = false;
  private closed = false;
  joins = 0;

  constructor(
    url: string,
    token: string,
    readonly room: string,
  ) {
    this.socket = connect(url, {
      auth: { token },
      forceNew: true,
      transports: ["websocket"],
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
    });
    this.socket.on("connect", () => this.catchUp());
    this.socket.on("message", (message: Delivered & { room: string }) => {
      if (message.room !== this.room) return;
      this.hold(message);
      if (message.seq > this.contiguous + 1) this.catchUp();
    });
  }

  /** Has every (seq, id) of `acks` in its room. */
  holdsAll(acks: { room: string; seq: number; id: string }[]): boolean {
    return acks.every((ack) => ack.room !== this.room || this.held.get(ack.seq) === ack.id);
  }

  close(): void {
    this.closed = true;
    this.socket.disconnect();
  }

  private hold(message: Delivered): void {
    this.held.set(message.seq, message.id);
    while (this.held.has(this.contiguous + 1)) this.contiguous++;
  }

  /** One catch-up at a time; a request during one runs another after it. */
  private catchUp(): void {
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = this.joinSince().finally(() => {
      this.catchingUp = undefined;
      if (this.catchUpAgain && !this.closed) {
        this.catchUpAgain = false;
        this.catchUp();
      }
    });
  }

  private async joinSince(): Promise<void> {
    while (!this.closed && this.socket.connected) {
      let reply: JoinReply;
      try {
        reply = (await this.socket.timeout(5000).emitWithAck("join", { room: this.room, since: this.contiguous })) as JoinReply;
      } catch {
        continue; // no answer (the node died): the reconnect's catch-up takes over, or this retries
      }
      this.joins++;
      if (!reply.ok) {
        // UNAVAILABLE while Redis restarts: try again shortly, as a client backs off.
        await sleep(300);
        continue;
      }
      for (const message of reply.messages ?? []) this.hold(message);
      if (!reply.more) return;
    }
  }
}
