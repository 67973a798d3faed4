/**
 * One attack of the abuse suite, run in a process of its own so its load does not delay the
 * canary's clock in the test process: `node attacker.js <attack> <json options>`. Prints one
 * JSON line with what the cluster answered, then exits. Events sent after the server cut the
 * socket count as "no answer".
 *
 * Attacks (the table of issue 17, as one user with one or many sockets):
 * - typing: `typing` as fast as possible into a room where 20 other users listen;
 * - joins: one socket joins up to 50,000 distinct rooms as fast as possible;
 * - reads: `history`, `rooms` and `read` as fast as possible;
 * - sockets: one user opens 2,000 sockets at once (200 at a time), holding what it gets; again
 *   every SOCKET_ROUND_MS while `durationInMs` lasts (one round in a window shorter than two), so
 *   a long window is under attack throughout, not just its first second;
 * - token: a token with 3,000 room patterns.
 */
import { io as connect, type Socket } from "socket.io-client";
import { mintToken } from "../../../scripts/lib/tokens.js";

export interface AttackOptions {
  url: string;
  secret: string;
  tag: string;
  durationInMs: number;
}

/** How often the sockets attack starts again within its window. */
export const SOCKET_ROUND_MS = 10_000;

export type AttackName = "typing" | "joins" | "reads" | "sockets" | "token";

/** Answer codes by count ("ok" for ok: true), plus attack-specific figures. */
export interface AttackReport {
  answers: Record<string, number>;
  figures: Record<string, number>;
}

type Reply = { ok: boolean; error?: { code: string } };

async function client(url: string, token: string): Promise<Socket> {
  const socket = connect(url, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** The node the socket's session lives on (session ids start with the node name). */
function sessionNode(socket: Socket): string {
  const sid = socket.io.engine.id;
  return sid.slice(0, sid.indexOf("-"));
}

/** Emits as fast as the socket takes them for `durationInMs`, `perTick` per event-loop turn, counting the acks. */
async function flood(
  socket: Socket,
  durationInMs: number,
  next: (i: number) => [string, unknown],
  answers: Record<string, number>,
  max = Number.POSITIVE_INFINITY,
): Promise<number> {
  const deadline = Date.now() + durationInMs;
  let sent = 0;
  const pending: Promise<void>[] = [];
  while (Date.now() < deadline && sent < max && socket.connected) {
    for (let i = 0; i < 50 && sent < max; i++, sent++) {
      const [event, payload] = next(sent);
      pending.push(
        socket
          .timeout(5000)
          .emitWithAck(event, payload)
          .then(
            (reply: Reply) => void (answers[reply.ok ? "ok" : reply.error!.code] = (answers[reply.ok ? "ok" : reply.error!.code] ?? 0) + 1),
            () => void (answers["no answer"] = (answers["no answer"] ?? 0) + 1),
          ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  return sent;
}

export async function runAttack(name: AttackName, { url, secret, tag, durationInMs }: AttackOptions): Promise<AttackReport> {
  const answers: Record<string, number> = {};
  const figures: Record<string, number> = {};
  const token = (user: string, rooms: string[] = [`abuse-${tag}:*`]) => mintToken({ secret, userId: user, rooms });
  switch (name) {
    case "typing": {
      const room = `abuse-${tag}:typing`;
      const listeners = await Promise.all(Array.from({ length: 20 }, async (_, i) => client(url, await token(`listener-${tag}-${i}`))));
      let delivered = 0;
      for (const listener of listeners) {
        await listener.emitWithAck("join", { room });
        listener.on("typing", () => (delivered += 1));
      }
      const attacker = await client(url, await token(`typist-${tag}`));
      figures[`on ${sessionNode(attacker)}`] = 1;
      figures["sent"] = await flood(attacker, durationInMs, () => ["typing", { room }], answers);
      await new Promise((resolve) => setTimeout(resolve, 500));
      figures["delivered per listener"] = delivered / listeners.length;
      for (const socket of [attacker, ...listeners]) socket.disconnect();
      break;
    }
    case "joins": {
      const attacker = await client(url, await token(`joiner-${tag}`));
      figures[`on ${sessionNode(attacker)}`] = 1;
      figures["sent"] = await flood(attacker, durationInMs, (i) => ["join", { room: `abuse-${tag}:j${i}` }], answers, 50_000);
      attacker.disconnect();
      break;
    }
    case "reads": {
      const room = `abuse-${tag}:reads`;
      const attacker = await client(url, await token(`reader-${tag}`));
      figures[`on ${sessionNode(attacker)}`] = 1;
      const events: [string, unknown][] = [
        ["history", { room, limit: 100 }],
        ["rooms", {}],
        ["read", { room, seq: 1 }],
      ];
      figures["sent"] = await flood(attacker, durationInMs, (i) => events[i % 3]!, answers);
      attacker.disconnect();
      break;
    }
    case "sockets": {
      const userToken = await token(`crowd-${tag}`);
      const sockets: Socket[] = [];
      const started = Date.now();
      const rounds = Math.max(1, Math.floor(durationInMs / SOCKET_ROUND_MS));
      for (let round = 0; round < rounds; round++) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + round * SOCKET_ROUND_MS - Date.now())));
        for (let batch = 0; batch < 10; batch++) {
          const attempts = await Promise.allSettled(Array.from({ length: 200 }, () => client(url, userToken)));
          for (const attempt of attempts) {
            if (attempt.status === "fulfilled") sockets.push(attempt.value);
            const code = attempt.status === "fulfilled" ? "ok" : (attempt.reason as Error).message;
            answers[code] = (answers[code] ?? 0) + 1;
          }
        }
      }
      figures["held"] = sockets.length;
      figures["rounds"] = rounds;
      for (const socket of sockets) socket.disconnect();
      break;
    }
    case "token": {
      const huge = await token(
        `patterns-${tag}`,
        Array.from({ length: 3000 }, (_, i) => `team-${i}:*`),
      );
      figures["token bytes"] = huge.length;
      try {
        (await client(url, huge)).disconnect();
        answers["ok"] = 1;
      } catch (error) {
        const data = (error as Error & { data?: { code: string } }).data;
        answers[`${(error as Error).message} ${data?.code ?? ""}`.trim()] = 1;
      }
      break;
    }
  }
  return { answers, figures };
}

// Run as a process of its own: node attacker.js <attack> <options JSON>.
if (process.argv[1]?.endsWith("attacker.js")) {
  const [name, options] = process.argv.slice(2) as [AttackName, string];
  runAttack(name, JSON.parse(options) as AttackOptions).then(
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
