/**
 * A raw Engine.IO v4 client over the `ws` package, for the frames socket.io-client would never
 * send (CVE payloads, malformed packets) and for upgrade requests with chosen headers (Origin).
 *
 * Framing (Engine.IO v4 over WebSocket, one packet per frame): "0{...}" open, "2" ping from
 * the server (answered "3"), "4..." message; a socket.io packet rides in a message, so
 * "40{"token":...}" is the socket.io CONNECT with its auth payload, "42[...]" an EVENT,
 * "421[...]" an EVENT with ack id 1, "43..." an ACK, "44{...}" a CONNECT_ERROR.
 */
import WebSocket from "ws";

export interface RawOptions {
  headers?: Record<string, string>;
  timeoutInMs?: number;
}

/** How an upgrade attempt ended: a socket, or the HTTP status that refused it. */
export type UpgradeOutcome = { kind: "open"; socket: RawEngineSocket } | { kind: "refused"; status: number };

export class RawEngineSocket {
  /** Every text frame received, in order (pings included). */
  readonly frames: string[] = [];
  /** Resolves with the close code once the connection is closed, by either side. */
  readonly closed: Promise<number>;
  private readonly waiters = new Set<() => void>();
  private closeCode: number | undefined;

  private constructor(private readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on("close", (code) => {
        this.closeCode = code;
        resolve(code);
        this.wake();
      });
    });
    ws.on("message", (data, isBinary) => {
      const frame = isBinary ? `<binary ${(data as Buffer).length} bytes>` : data.toString();
      // The server pings every pingInterval; an unanswered ping closes the session.
      if (frame === "2") this.ws.send("3");
      this.frames.push(frame);
      this.wake();
    });
    // A socket error is followed by "close", which is what the tests observe.
    ws.on("error", () => undefined);
  }

  /** Opens an Engine.IO WebSocket session at `baseUrl` (http://host:port) and waits for the open packet. */
  static async upgrade(baseUrl: string, { headers = {}, timeoutInMs = 10_000 }: RawOptions = {}): Promise<UpgradeOutcome> {
    const url = `${baseUrl.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutInMs });
    const outcome = await new Promise<UpgradeOutcome>((resolve, reject) => {
      ws.once("unexpected-response", (_request, response) => {
        resolve({ kind: "refused", status: response.statusCode ?? 0 });
        response.resume();
        ws.terminate();
      });
      ws.once("open", () => resolve({ kind: "open", socket: new RawEngineSocket(ws) }));
      ws.once("error", reject);
    });
    if (outcome.kind === "open") {
      const open = await outcome.socket.next((frame) => frame.startsWith("0"), timeoutInMs);
      if (!open.startsWith("0{")) throw new Error(`expected an Engine.IO open packet, got ${open}`);
    }
    return outcome;
  }

  /** Opens a session and connects to the default namespace with `token`; throws unless the server answers CONNECT. */
  static async connect(baseUrl: string, token: string, options: RawOptions = {}): Promise<RawEngineSocket> {
    const outcome = await RawEngineSocket.upgrade(baseUrl, options);
    if (outcome.kind === "refused") throw new Error(`upgrade refused with ${outcome.status}`);
    const socket = outcome.socket;
    socket.send(`40${JSON.stringify({ token })}`);
    const answer = await socket.next((frame) => frame.startsWith("40") || frame.startsWith("44"));
    if (!answer.startsWith("40")) throw new Error(`socket.io CONNECT refused: ${answer}`);
    return socket;
  }

  get isOpen(): boolean {
    return this.closeCode === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: string | Buffer): void {
    this.ws.send(frame);
  }

  /** Sends a socket.io EVENT with ack id `ackId` and resolves with the ack's first argument. */
  async request(ackId: number, event: string, payload: unknown, timeoutInMs = 10_000): Promise<unknown> {
    const from = this.frames.length;
    this.send(`42${ackId}${JSON.stringify([event, payload])}`);
    const frame = await this.next((f) => f.startsWith(`43${ackId}[`), timeoutInMs, from);
    return (JSON.parse(frame.slice(`43${ackId}`.length)) as unknown[])[0];
  }

  /**
   * Resolves with the first frame received from now on that satisfies `match` (frames already
   * received are searched too, from `fromIndex`); rejects when the connection closes first or
   * after `timeoutInMs`.
   */
  next(match: (frame: string) => boolean, timeoutInMs = 10_000, fromIndex = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      let scanned = fromIndex;
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching frame within ${timeoutInMs} ms; frames: ${JSON.stringify(this.frames.slice(-10))}`));
      }, timeoutInMs);
      const check = () => {
        for (; scanned < this.frames.length; scanned++) {
          const frame = this.frames[scanned]!;
          if (match(frame)) {
            clearTimeout(timer);
            this.waiters.delete(check);
            return resolve(frame);
          }
        }
        if (this.closeCode !== undefined) {
          clearTimeout(timer);
          this.waiters.delete(check);
          reject(
            new Error(`connection closed (${this.closeCode}) before a matching frame; frames: ${JSON.stringify(this.frames.slice(-10))}`),
          );
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves once the connection is closed, or rejects after `timeoutInMs`. */
  async closedWithin(timeoutInMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`connection still open after ${timeoutInMs} ms; frames: ${JSON.stringify(this.frames.slice(-10))}`)),
        timeoutInMs,
      );
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
