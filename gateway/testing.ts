/**
 * Test support for the gateway's integration tests (not used by the product): fake socket nodes
 * that can hold a request open, a raw HTTP/1.1 connection whose lifetime and source address the
 * test controls (fetch pools and reuses connections, which would blur per-connection limits),
 * and a reader for HAProxy's Prometheus exporter.
 */
import assert from "node:assert/strict";
import { createServer, type ServerResponse, type Server } from "node:http";
import { connect, type Socket } from "node:net";

export interface HoldingNode {
  name: string;
  port: number;
  server: Server;
  /** Requests for /hold... that are waiting to be answered, oldest first. */
  held: ServerResponse[];
  /** Answers the oldest held request. */
  releaseOne(): void;
  close(): Promise<void>;
}

/**
 * A node that answers like uWS (HTTP/1.1 only; HAProxy's checks send `Host: localhost`) with its
 * name, and holds requests whose path starts with /hold until the test releases them.
 */
export async function startHoldingNode(name: string): Promise<HoldingNode> {
  const held: ServerResponse[] = [];
  const answer = (res: ServerResponse, status: number, body: string) =>
    res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) }).end(body);
  const server = createServer((req, res) => {
    if (req.httpVersion !== "1.1") return void req.socket.destroy();
    if (req.url === "/readyz" && req.headers.host === "localhost") return answer(res, 200, "ready");
    if (req.url?.startsWith("/hold")) return void held.push(res);
    answer(res, 200, name);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    name,
    port: typeof address === "object" && address ? address.port : 0,
    server,
    held,
    releaseOne() {
      const res = held.shift();
      assert.ok(res, `${name} holds no request`);
      answer(res, 200, name);
    },
    async close() {
      for (const res of held.splice(0)) answer(res, 200, name);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** One client connection: requests go out one at a time, each response is read by its Content-Length. */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  /** Resolves when the other side closed the connection. */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    void this.closed.then(() => this.wake?.());
    socket.on("error", () => {}); // a reset shows as `closed`; the test asserts on that
  }

  /** Connects from `localAddress` (any of 127.0.0.0/8): each address has its own per-address limits. */
  static open(port: number, localAddress: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, localAddress }, () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readyState === "closed";
  }

  write(text: string): void {
    this.socket.write(text);
  }

  async request(path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("");
    this.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\n${extra}\r\n`);
    return this.readResponse();
  }

  /** The next response on the connection; rejects if the connection closes before it is complete. */
  async readResponse(): Promise<RawResponse> {
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const [statusLine = "", ...lines] = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
        const headers = Object.fromEntries(
          lines.map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
        );
        const length = Number(headers["content-length"] ?? 0);
        if (this.buffer.length >= end + 4 + length) {
          const body = this.buffer.subarray(end + 4, end + 4 + length).toString("utf8");
          this.buffer = this.buffer.subarray(end + 4 + length);
          return { status: Number(statusLine.split(" ")[1]), headers, body };
        }
      }
      if (this.isClosed) throw new Error(`connection closed before a full response (${this.buffer.length} bytes read)`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The value of one sample of HAProxy's Prometheus exporter, e.g. `haproxy_backend_current_queue{proxy="chat_nodes"}`. */
export async function exporterSample(statsUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(`${statsUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  assert.ok(line, `no sample ${sample} in HAProxy's exporter`);
  return Number(line.slice(sample.length + 1));
}
