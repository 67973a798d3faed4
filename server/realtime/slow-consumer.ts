/**
 * Caps what the node holds for one socket whose client does not read (docs/protocol.md v1.1
 * "Limits", outgoing buffer per socket; Centrifugo's `client_queue_max_size`): a socket that has
 * more than `maxBytes` waiting when more comes is closed. Its client reconnects and catches up with
 * `join { since }`; nothing acknowledged is lost, because nothing past the first message that did
 * not fit is sent on that socket (the client has read a prefix of its stream, without a gap).
 *
 * WebSocket: what the kernel has not taken waits in uWS's buffer for the socket. uWS's own knobs
 * do exactly this: `maxBackpressure` and `closeOnBackpressureLimit` (a send or publish that finds
 * more than maxBackpressure buffered is not sent, the socket is shut for reading and closed on the
 * next loop turn). engine.io (build/userver.js, `attach`) hands uWS `maxBackpressure` but not
 * `closeOnBackpressureLimit`, and without it uWS *drops* each message past the limit (64 KB when
 * engine.io passes none) and keeps the socket open: a slow reader missed messages silently. `wrap`
 * sets both on engine.io's WebSocket route.
 *
 * uWS does not say why it closed a socket (the code is 1006 for a client that went away too), and
 * its close handler can no longer read the buffer. Its `subscription` handler can: uWS calls it for
 * each topic of a socket it closes, just before the close handler, while getBufferedAmount() still
 * answers (every socket.io WebSocket is subscribed to its namespace's topic). A socket closed with
 * more than the cap unsent is the one reported.
 *
 * Long-polling: engine.io keeps packets in the session's writeBuffer until the client's next poll;
 * nothing caps it. `track` counts what was queued since the session's last flush and closes the
 * session when a packet comes while more than the cap is queued: the rule uWS applies, so one
 * reply larger than the cap (a `join { since }` of 500 long messages) still goes out whole.
 */
import type { TemplatedApp, WebSocket, WebSocketBehavior } from "uWebSockets.js";

export type SlowTransport = "websocket" | "polling";

/** What the node reports of a socket it closed for this limit. */
export interface SlowConsumerClose {
  transport: SlowTransport;
  /** What was waiting for the client when it was closed (at least the cap). */
  bufferedBytes: number;
}

/** The parts of an engine.io socket (engine.io/build/socket.js) this module uses. */
export interface EngineSocketLike {
  /** The engine.io transport; for WebSocket the same object uWS keeps as `getUserData().transport`. */
  readonly transport: object;
  /** `true`: discard the queued packets and close now (without it engine.io waits for them to be polled). */
  close(discard: true): void;
  on(event: "packetCreate", listener: (this: EngineSocketLike, packet: { data?: unknown }) => void): unknown;
  on(event: "flush" | "close", listener: (this: EngineSocketLike) => void): unknown;
}

export interface EngineServerLike {
  on(event: "connection", listener: (socket: EngineSocketLike) => void): unknown;
}

interface UwsUserData {
  transport?: object;
}

export class OutgoingBufferCap {
  /** WebSocket transports closed with more than the cap unsent, with the amount. */
  private readonly overflowedTransports = new WeakMap<object, number>();
  /** Polling sessions being closed for this limit, with the amount. */
  private readonly overflowedSessions = new WeakMap<EngineSocketLike, number>();
  /** Characters queued in each session's writeBuffer since its last flush. */
  private readonly queued = new WeakMap<EngineSocketLike, number>();
  /** Set by the subscription handler while uWS closes a socket; read by the close handler that follows at once. */
  private closing: { ws: WebSocket<unknown>; bytes: number } | undefined;

  constructor(
    readonly maxBytes: number,
    private readonly onClosed: (socket: EngineSocketLike, close: SlowConsumerClose) => void,
  ) {}

  /** The app to give socket.io's attachApp: engine.io's WebSocket route gets the cap and the close. */
  wrap(app: TemplatedApp): TemplatedApp {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const cap = this;
    // socket.io's uWS adapter calls `app.publish` on every broadcast: each method is bound once.
    const bound = new Map<PropertyKey, unknown>();
    const wrapped: TemplatedApp = new Proxy(app, {
      get(target, property, receiver) {
        if (property === "ws") {
          return (pattern: string, behavior: WebSocketBehavior<UwsUserData>) => {
            target.ws<UwsUserData>(pattern, cap.capped(behavior));
            return wrapped;
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        if (!bound.has(property)) bound.set(property, value.bind(target));
        return bound.get(property);
      },
    });
    return wrapped;
  }

  /** Call once attachApp created the engine: counts the polling queues and reports the closes. */
  track(engine: EngineServerLike): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const cap = this;
    // Shared listeners (`this` is the engine.io socket): a connection carries no closure of ours.
    function onPacket(this: EngineSocketLike, packet: { data?: unknown }): void {
      const queued = cap.queued.get(this) ?? 0;
      if (queued > cap.maxBytes) return cap.closePolling(this, queued);
      cap.queued.set(this, queued + 1 + sizeOf(packet.data));
    }
    function onFlush(this: EngineSocketLike): void {
      cap.queued.delete(this);
    }
    function onClose(this: EngineSocketLike): void {
      const websocket = cap.overflowedTransports.get(this.transport);
      if (websocket !== undefined) return cap.onClosed(this, { transport: "websocket", bufferedBytes: websocket });
      const polling = cap.overflowedSessions.get(this);
      if (polling !== undefined) cap.onClosed(this, { transport: "polling", bufferedBytes: polling });
    }
    engine.on("connection", (socket) => {
      socket.on("packetCreate", onPacket);
      socket.on("flush", onFlush);
      socket.on("close", onClose);
    });
  }

  private capped(behavior: WebSocketBehavior<UwsUserData>): WebSocketBehavior<UwsUserData> {
    const { subscription, close } = behavior;
    return {
      ...behavior,
      maxBackpressure: this.maxBytes,
      // Typed as a number in uWS's typings, read as a boolean.
      closeOnBackpressureLimit: 1,
      subscription: (ws, topic, newCount, oldCount) => {
        if (newCount < oldCount) this.noteUnsent(ws);
        subscription?.(ws, topic, newCount, oldCount);
      },
      close: (ws, code, message) => {
        const closing = this.closing;
        this.closing = undefined;
        const transport = ws.getUserData().transport;
        if (closing?.ws === ws && transport) this.overflowedTransports.set(transport, closing.bytes);
        close?.(ws, code, message);
      },
    };
  }

  /** A socket leaves a topic: when uWS closes it, this is the last moment its buffer can be read. */
  private noteUnsent(ws: WebSocket<UwsUserData>): void {
    let bytes: number;
    try {
      bytes = ws.getBufferedAmount();
    } catch {
      // A socket closed by the server (ws.end()) is already unusable here: not this limit.
      this.closing = undefined;
      return;
    }
    // Also cleared here, so an earlier note (a room left while backed up) is not taken for this close.
    this.closing = bytes > this.maxBytes ? { ws, bytes } : undefined;
  }

  private closePolling(socket: EngineSocketLike, bytes: number): void {
    if (this.overflowedSessions.has(socket)) return;
    this.overflowedSessions.set(socket, bytes);
    // Out of engine.io's sendPacket (and socket.io's broadcast loop) before the session goes.
    process.nextTick(() => socket.close(true));
  }
}

/** Size of a packet's payload: characters of a string (bytes for ASCII), bytes of binary data. */
function sizeOf(data: unknown): number {
  if (typeof data === "string") return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
