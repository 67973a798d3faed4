/**
 * An in-memory chat server behind the Transport seam, for the SDK's unit tests: rooms as
 * gap-free logs of messages and changes (v1.1), idempotent sends and changes by clientId,
 * `join { since }` in pages, `history` in the read model, and hooks to inject the faults the
 * SDK must survive: refused handshakes, lost sessions, lost acks, refused requests, live
 * events withheld or delivered out of order. Deliveries go through setImmediate, in order, as
 * over one socket.
 */
import { ChatError } from "../errors.js";
import type { Change, Message } from "../protocol.js";
import { applyChange } from "../room-state.js";
import { tokenSubject } from "../token.js";
import type { Transport, TransportHandlers } from "../transport.js";

type Entry = Message | Change;
type Ack = Record<string, unknown>;

/** What a hook decides about a request: answer it like this, or "drop" the ack (after processing when `process: true`). */
export type Intercept = { ack: Ack } | { drop: true; process: boolean } | undefined;

export class FakeSession {
  readonly rooms = new Set<string>();
  open = true;
  constructor(
    readonly user: string,
    readonly token: string,
    readonly handlers: TransportHandlers,
  ) {}
}

export class FakeServer {
  readonly logs = new Map<string, Entry[]>();
  readonly requests: Array<{ event: string; payload: Record<string, unknown>; user: string }> = [];
  readonly sessions: FakeSession[] = [];
  readonly handshakes: string[] = [];
  private readonly receipts = new Map<string, Ack>();
  /** Most entries one `join { since }` answer holds. */
  pageSize = 500;
  /** Decides a handshake: undefined lets it in. */
  refuse: (token: string) => ChatError | undefined = () => undefined;
  /** Decides a request before the server handles it. */
  intercept: (event: string, payload: Record<string, unknown>, session: FakeSession) => Intercept = () => undefined;
  /** True withholds a live event from a session (the entry stays in the log). */
  withhold: (entry: Entry, session: FakeSession) => boolean = () => false;

  transport(): Transport {
    let session: FakeSession | undefined;
    const pending = new Set<(error: ChatError) => void>();
    let opened = 0;
    // The transport's methods are called with the transport as `this`; they act on this server.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this;
    return {
      open(token, handlers) {
        server.handshakes.push(token);
        const attempt = ++opened;
        setImmediate(() => {
          // Closed (or opened again) before the handshake finished: it reports nothing.
          if (attempt !== opened) return;
          const refusal = server.refuse(token);
          if (refusal) return handlers.refused(refusal);
          session = new FakeSession(tokenSubject(token) ?? "anonymous", token, handlers);
          server.sessions.push(session);
          handlers.open();
        });
      },
      close() {
        opened += 1;
        if (session) session.open = false;
        session = undefined;
        for (const fail of pending) fail(new ChatError("DISCONNECTED", "closed"));
      },
      request(event, payload, timeoutInMs) {
        const current = session;
        if (!current?.open) return Promise.reject(new ChatError("DISCONNECTED", "not connected"));
        return new Promise((resolve, reject) => {
          const fail = (error: ChatError) => {
            clearTimeout(timer);
            pending.delete(fail);
            reject(error);
          };
          const timer = setTimeout(() => fail(new ChatError("TIMEOUT", "no ack")), timeoutInMs);
          pending.add(fail);
          setImmediate(() => {
            const ack = server.handle(current, event, structuredClone(payload) as Record<string, unknown>);
            if (ack === undefined) return;
            server.deliver(current, () => {
              clearTimeout(timer);
              pending.delete(fail);
              resolve(ack);
            });
          });
        });
      },
      notify(event, payload) {
        const current = session;
        if (current?.open) setImmediate(() => server.handle(current, event, payload as Record<string, unknown>));
      },
    };
  }

  /** Another user's message, as if sent through another node. */
  post(room: string, from: string, text: string): Message {
    this.handle(undefined, "send", { room, clientId: `${from}-${Math.random()}`, text }, from);
    return this.logs.get(room)!.at(-1) as Message;
  }

  /** The connection of every open session drops (the node died). */
  dropAll(byServer = false): void {
    for (const session of this.sessions) {
      if (!session.open) continue;
      session.open = false;
      setImmediate(() => session.handlers.close(byServer));
    }
  }

  /** Sends an event to every open session that joined the room (bypasses `withhold`). */
  emitTo(room: string, event: string, payload: unknown): void {
    for (const session of this.sessions)
      if (session.open && session.rooms.has(room)) this.deliver(session, () => session.handlers.event(event, payload));
  }

  /** The room's messages in their current state (the read model). */
  messages(room: string): Message[] {
    const state = new Map<string, Message>();
    for (const entry of this.logs.get(room) ?? []) {
      if ("kind" in entry) state.set(entry.target, applyChange(state.get(entry.target)!, entry));
      else state.set(entry.id, entry);
    }
    return [...state.values()];
  }

  count(event: string): number {
    return this.requests.filter((request) => request.event === event).length;
  }

  private deliver(session: FakeSession, action: () => void): void {
    setImmediate(() => session.open && action());
  }

  /** Handles one request; undefined means no ack is sent. */
  private handle(session: FakeSession | undefined, event: string, payload: Record<string, unknown>, asUser?: string): Ack | undefined {
    const user = session?.user ?? asUser ?? "anonymous";
    if (session) {
      this.requests.push({ event, payload, user });
      const decision = this.intercept(event, payload, session);
      if (decision && "ack" in decision) return decision.ack;
      if (decision?.drop) {
        if (decision.process) this.answer(session, user, event, payload);
        return undefined;
      }
    }
    return this.answer(session, user, event, payload);
  }

  private answer(session: FakeSession | undefined, user: string, event: string, payload: Record<string, unknown>): Ack | undefined {
    const room = String(payload["room"]);
    const log = this.logs.get(room) ?? [];
    this.logs.set(room, log);
    switch (event) {
      case "join": {
        session?.rooms.add(room);
        if (typeof payload["since"] !== "number") return { ok: true, room, seq: log.length };
        const page = log.slice(payload["since"], payload["since"] + this.pageSize);
        return {
          ok: true,
          room,
          seq: log.length,
          messages: page.filter((entry) => !("kind" in entry)),
          changes: page.filter((entry) => "kind" in entry),
          more: payload["since"] + page.length < log.length,
        };
      }
      case "send":
      case "edit":
      case "delete":
      case "react":
        return this.append(user, room, event, payload, log);
      case "history": {
        const before = typeof payload["beforeSeq"] === "number" ? payload["beforeSeq"] : Infinity;
        const older = this.messages(room).filter((message) => message.seq < before);
        const limit = typeof payload["limit"] === "number" ? payload["limit"] : 50;
        return { ok: true, messages: older.slice(-limit), more: older.length > limit };
      }
      case "typing":
        for (const other of this.sessions)
          if (other !== session && other.open && other.rooms.has(room))
            this.deliver(other, () => other.handlers.event("typing", { room, user }));
        return { ok: true };
      case "leave":
        session?.rooms.delete(room);
        return { ok: true };
      default:
        return { ok: true };
    }
  }

  private append(user: string, room: string, event: string, payload: Record<string, unknown>, log: Entry[]): Ack {
    const key = `${user}\u0000${room}\u0000${String(payload["clientId"])}`;
    const first = this.receipts.get(key);
    if (first) return { ...first, duplicate: true };
    const seq = log.length + 1;
    const ts = 1_000_000 + seq;
    let entry: Entry;
    if (event === "send") {
      entry = { id: `m${room}-${seq}`, room, seq, from: user, clientId: String(payload["clientId"]), text: String(payload["text"]), ts };
    } else {
      const target = this.messages(room).find((message) => message.id === payload["id"]);
      if (!target) return { ok: false, error: { code: "NOT_FOUND", message: "no such message" } };
      entry = {
        room,
        seq,
        ts,
        by: user,
        clientId: String(payload["clientId"]),
        kind: event as Change["kind"],
        target: target.id,
        targetSeq: target.seq,
      };
      if (event === "edit") entry.text = String(payload["text"]);
      if (event === "react") Object.assign(entry, { emoji: payload["emoji"], on: payload["on"] });
    }
    log.push(entry);
    const ack = event === "send" ? { ok: true, id: (entry as Message).id, seq, ts } : { ok: true, seq, ts };
    this.receipts.set(key, ack);
    const name = event === "send" ? "message" : "change";
    for (const session of this.sessions) {
      if (session.open && session.rooms.has(room) && !this.withhold(entry, session))
        this.deliver(session, () => session.handlers.event(name, entry));
    }
    return ack;
  }
}

/** An unsigned JWT-shaped token for `user` that expires at `expiresAtInMs` (the fake server reads, never verifies). */
export function fakeToken(user: string, expiresAtInMs = Date.now() + 3_600_000, tag = ""): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part({ sub: user, exp: Math.floor(expiresAtInMs / 1000), tag })}.`;
}
