/**
 * The abuse suite's attacks from one address on the gateway itself, run in a process of their own
 * (like test/limits/abuse/attacker.ts): `node gateway-attacks.js <attack> <json options>` prints
 * one JSON line { answers, figures } and exits.
 *
 * - connections: `count` TCP connections that send half a request line and never finish their
 *   headers (slowloris), held `durationInMs`; meanwhile /readyz is asked from a fresh connection;
 * - handshakes: unauthenticated engine.io polling handshakes as fast as possible;
 * - rest-rooms: REST `GET /api/me/rooms` as fast as possible with a valid token.
 */
import { get } from "node:http";
import { connect as tcpConnect, type Socket } from "node:net";
import { mintToken } from "../../scripts/lib/tokens.js";

export type GatewayAttackName = "connections" | "handshakes" | "rest-rooms";

export interface GatewayAttackOptions {
  url: string;
  secret: string;
  tag: string;
  durationInMs: number;
  /** connections: how many to open (scaled to the file-descriptor limit by the caller). */
  count?: number;
}

export interface GatewayAttackReport {
  answers: Record<string, number>;
  figures: Record<string, number>;
}

const bump = (answers: Record<string, number>, key: string) => void (answers[key] = (answers[key] ?? 0) + 1);

/** Requests as fast as `concurrency` loops can go for `durationInMs`, answers counted by status. */
async function hammer(
  durationInMs: number,
  concurrency: number,
  once: () => Promise<Response>,
  answers: Record<string, number>,
): Promise<number> {
  const deadline = Date.now() + durationInMs;
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        sent++;
        try {
          const response = await once();
          await response.arrayBuffer();
          bump(answers, String(response.status));
        } catch {
          bump(answers, "no answer");
        }
      }
    }),
  );
  return sent;
}

/** A connection that sends a request line and one header, then nothing: resolves once open (or with why not). */
function slowConnection(host: string, port: number, sockets: Socket[], closedEarly: { count: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    socket.setTimeout(5000);
    socket.once("connect", () => {
      socket.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: abuse\r\n");
      sockets.push(socket);
      resolve("open");
    });
    socket.on("data", (data) => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(data.toString("latin1"))?.[1];
      if (status) bump(refusedByStatus, status);
    });
    socket.once("close", () => (closedEarly.count += 1));
    socket.once("timeout", () => (socket.destroy(), resolve("connect timeout")));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });
}
const refusedByStatus: Record<string, number> = {};

/** GET from a given source address (any 127.x address reaches a loopback listener); 0 when unanswered. */
function statusFrom(localAddress: string, url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = get(url, { localAddress, timeout: 5000 }, (response) => (response.resume(), resolve(response.statusCode ?? 0)));
    request.once("timeout", () => request.destroy());
    request.once("error", () => resolve(0));
  });
}

export async function runGatewayAttack(
  name: GatewayAttackName,
  { url, secret, tag, durationInMs, count = 1000 }: GatewayAttackOptions,
): Promise<GatewayAttackReport> {
  const answers: Record<string, number> = {};
  const figures: Record<string, number> = {};
  const target = new URL(url);
  switch (name) {
    case "connections": {
      const sockets: Socket[] = [];
      const closed = { count: 0 };
      for (let batch = 0; batch < count; batch += 250) {
        const results = await Promise.all(
          Array.from({ length: Math.min(250, count - batch) }, () => slowConnection(target.hostname, Number(target.port), sockets, closed)),
        );
        for (const result of results) bump(answers, result);
      }
      // Held: is the gateway still answering its health check while it sheds this address?
      // Asked from another loopback address: the shed address's own new connections are refused.
      const readyz = await statusFrom("127.0.0.2", `${url}/readyz`);
      figures["readyz during"] = readyz;
      await new Promise((resolve) => setTimeout(resolve, durationInMs));
      figures["still open at the end"] = sockets.filter((socket) => !socket.destroyed).length;
      figures["closed by the gateway"] = closed.count;
      for (const [status, n] of Object.entries(refusedByStatus)) figures[`HTTP ${status}`] = n;
      for (const socket of sockets) socket.destroy();
      break;
    }
    case "handshakes": {
      figures["sent"] = await hammer(
        durationInMs,
        16,
        () => fetch(`${url}/socket.io/?EIO=4&transport=polling&t=${Date.now()}`, { signal: AbortSignal.timeout(5000) }),
        answers,
      );
      break;
    }
    case "rest-rooms": {
      const token = await mintToken({ secret, userId: `rest-reader-${tag}`, rooms: [`abuse-${tag}:*`] });
      figures["sent"] = await hammer(
        durationInMs,
        16,
        () => fetch(`${url}/api/me/rooms`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) }),
        answers,
      );
      break;
    }
  }
  return { answers, figures };
}

if (process.argv[1]?.endsWith("gateway-attacks.js")) {
  const [name, options] = process.argv.slice(2) as [GatewayAttackName, string];
  runGatewayAttack(name, JSON.parse(options) as GatewayAttackOptions).then(
    (report) => {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
