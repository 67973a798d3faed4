/**
 * `npm run abuse`: the full abuse suite of issue 17. Starts the stack `npm start` brings up (Redis
 * with its maxmemory, Cassandra, 2 socket nodes, a flusher, the HAProxy gateway) on free ports,
 * with the gateway's per-address limits ON, and a canary user sending one message a second
 * throughout. Replays each attack of the issue's table, each from a process of its own, and
 * asserts: refused or throttled as docs/protocol.md "Limits" says; no canary send lost; canary
 * ack p99 during each attack within 2x its baseline (the seconds just before it); node RSS back
 * within 20 % of its baseline at the end; no component restarted. Writes the table into
 * docs/security.md (between the abuse-table markers) and exits non-zero when an assertion fails.
 *
 * Node RSS is read after the attacks' sockets close and a settle time; the nodes are not forced
 * to collect garbage (they run without --expose-gc), so the figure is what V8 left by then.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { io as connect, type Socket } from "socket.io-client";
import { DATA_ROOT, REPO_ROOT } from "./infra/paths.js";
import { freePort } from "./infra/process.js";
import { cassandraConfigFor, migrateKeyspace, startApps, startStores, type Apps, type Stores } from "./infra/stack.js";
import { mintToken } from "./lib/tokens.js";

const run = promisify(execFile);
const SECRET = "abuse-suite-secret-0123456789";
const BASELINE_MS = 10_000;
const ATTACK_MS = 10_000;
const SETTLE_MS = 15_000;
const tag = Date.now().toString(36);
const started = Date.now();
const log = (line: string) => console.log(`[abuse +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

interface Latencies {
  p50: number;
  p99: number;
  count: number;
}
interface Report {
  answers: Record<string, number>;
  figures: Record<string, number>;
}
interface Row {
  attack: string;
  refused: string;
  baseline: Latencies;
  during: Latencies;
  rssBefore: number[];
  rssAfter: number[];
}

/** One message a second, each ack timed; every answer must be ok, seqs without a gap. */
class Canary {
  private samples: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  readonly failures: string[] = [];
  readonly acked: number[] = [];
  constructor(
    private readonly socket: Socket,
    private readonly room: string,
  ) {}
  start(): void {
    this.timer = setInterval(() => {
      const clientId = `canary-${this.sent++}`;
      const asked = performance.now();
      (
        this.socket.timeout(10_000).emitWithAck("send", { room: this.room, clientId, text: "canary" }) as Promise<{
          ok: boolean;
          seq?: number;
          error?: { code: string };
        }>
      ).then(
        (reply) => {
          this.samples.push(performance.now() - asked);
          if (reply.ok) this.acked.push(reply.seq!);
          else this.failures.push(`${clientId}: ${reply.error?.code}`);
        },
        (error: Error) => this.failures.push(`${clientId}: ${error.message}`),
      );
    }, 1000);
  }
  take(): Latencies {
    const sorted = this.samples.splice(0).sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
    return { p50: at(0.5), p99: at(0.99), count: sorted.length };
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  if (!ok) failures.push(what);
  log(`${ok ? "ok  " : "FAIL"} ${what}`);
}

async function nodeRssMb(apps: Apps): Promise<number[]> {
  return Promise.all(
    apps.nodes.map(async (node) => {
      const metrics = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
      return Math.round(Number(/^process_resident_memory_bytes(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]) / 2 ** 20);
    }),
  );
}

/** How many connections one attacker may open: well within the 20,000 file descriptors of a process. */
async function connectionCount(): Promise<{ count: number; fdLimit: number }> {
  const { stdout } = await run("sh", ["-c", "ulimit -n"]);
  const fdLimit = Number(stdout.trim()) || 1024;
  // The attacker holds one descriptor per connection and HAProxy one or two: keep both well inside the limit.
  return { fdLimit, count: Math.min(9000, Math.floor(fdLimit * 0.4)) };
}

const codes = (report: Report, allowed: string[]) => Object.keys(report.answers).filter((code) => !allowed.includes(code));
const fmt = (l: Latencies) => `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)} (${l.count})`;

async function main(): Promise<void> {
  const dir = join(DATA_ROOT, `abuse-${tag}`);
  mkdirSync(dir, { recursive: true });
  // The gateway reads its admission settings from this process's environment.
  process.env["CHAT_GATEWAY_CLIENT_LIMITS"] = "on";
  let stores: Stores | undefined;
  let apps: Apps | undefined;
  let canarySocket: Socket | undefined;
  const redis = { client: undefined as Redis | undefined };
  try {
    stores = await startStores({
      dir,
      redisPort: await freePort(),
      cassandraNativePort: await freePort(),
      cassandraStoragePort: await freePort(),
      log,
    });
    const keyspace = `abuse_${tag}`;
    await migrateKeyspace(cassandraConfigFor(stores.cassandraContactPoint, keyspace));
    apps = await startApps({
      dir: join(dir, "logs"),
      nodeCount: 2,
      gatewayPort: await freePort(),
      env: {
        CHAT_REDIS_URL: stores.redis.url,
        CHAT_CASSANDRA_CONTACT_POINTS: stores.cassandraContactPoint,
        CHAT_CASSANDRA_KEYSPACE: keyspace,
        CHAT_JWT_SECRET: SECRET,
      },
    });
    const url = apps.gateway.url;
    log(`cluster up at ${url} (gateway client limits on), logs in ${dir}`);
    redis.client = new Redis(stores.redis.url);
    const processes = [
      stores.redis.process,
      stores.cassandra.process,
      apps.gateway.process,
      apps.flusher.process,
      ...apps.nodes.map((node) => node.process),
    ];
    const pids = processes.map((p) => p.child.pid);

    const canaryRoom = `canary-${tag}`;
    canarySocket = connect(url, {
      auth: { token: await mintToken({ secret: SECRET, userId: `canary-${tag}`, rooms: [canaryRoom] }) },
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
    });
    await new Promise<void>((resolve, reject) => (canarySocket!.once("connect", resolve), canarySocket!.once("connect_error", reject)));
    const canary = new Canary(canarySocket, canaryRoom);
    canary.start();
    await new Promise((resolve) => setTimeout(resolve, 5000)); // warm-up
    const rssBaseline = await nodeRssMb(apps);
    const rows: Row[] = [];
    const { count: connections, fdLimit } = await connectionCount();

    /** After an address-level flood HAProxy sheds 127.0.0.1 for a while: wait until it accepts again, counting how long. */
    const shedSeconds: Record<string, number> = {};
    const waitUntilAccepted = async (after: string) => {
      const from = Date.now();
      for (;;) {
        const status = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
          (response) => response.status,
          () => 0,
        );
        if (status === 200) break;
        if (Date.now() - from > 120_000) throw new Error(`the gateway still refuses 127.0.0.1 120 s after ${after}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      if (Date.now() - from > 1000) shedSeconds[after] = Math.round((Date.now() - from) / 1000);
    };
    let previous = "warm-up";
    const attack = async (name: string, runIt: () => Promise<Report>, judge: (report: Report) => string): Promise<Report> => {
      await waitUntilAccepted(previous);
      previous = name;
      canary.take();
      await new Promise((resolve) => setTimeout(resolve, BASELINE_MS));
      const baseline = canary.take();
      const rssBefore = await nodeRssMb(apps!);
      log(`${name}…`);
      const attackStarted = Date.now();
      const report = await runIt();
      // An attack refused within a second still gets a full slot, so that "during" holds samples.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, attackStarted + ATTACK_MS - Date.now())));
      const during = canary.take();
      const rssAfter = await nodeRssMb(apps!);
      log(`${name}: ${JSON.stringify(report)}`);
      const refused = judge(report);
      rows.push({ attack: name, refused, baseline, during, rssBefore, rssAfter });
      check(
        during.count > 0 && during.p99 <= 2 * baseline.p99,
        `${name}: canary ack p99 ${during.p99.toFixed(1)} ms within 2x its baseline ${baseline.p99.toFixed(1)} ms`,
      );
      return report;
    };
    const child = async (script: string, name: string, options: object): Promise<Report> => {
      const { stdout } = await run(process.execPath, [join(REPO_ROOT, "dist", script), name, JSON.stringify(options)], {
        timeout: 180_000,
        maxBuffer: 1 << 20,
      });
      return JSON.parse(stdout) as Report;
    };
    const user = (name: string) => child("test/limits/abuse/attacker.js", name, { url, secret: SECRET, tag, durationInMs: ATTACK_MS });
    const address = (name: string, extra: object = {}) =>
      child("test/abuse/gateway-attacks.js", name, { url, secret: SECRET, tag, durationInMs: ATTACK_MS, ...extra });
    const brief = (report: Report) =>
      Object.entries(report.answers)
        .map(([code, n]) => `${n} ${code}`)
        .join(", ");

    await attack(
      "typing as fast as possible into a room of 20",
      () => user("typing"),
      (r) => {
        check(
          codes(r, ["ok", "no answer", "RATE_LIMITED"]).length === 0 && (r.answers["RATE_LIMITED"] ?? 0) > 0,
          "typing: refused RATE_LIMITED by the event budget",
        );
        check(
          r.figures["delivered per listener"]! <= ATTACK_MS / 2000 + 1,
          `typing: ${r.figures["delivered per listener"]} deliveries per listener, throttled to one per 2 s`,
        );
        return `${brief(r)}; ${r.figures["delivered per listener"]} typing delivered per listener`;
      },
    );
    await attack(
      "one socket joins 50,000 rooms",
      () => user("joins"),
      (r) => {
        check(
          (r.answers["ok"] ?? 0) <= 256 && codes(r, ["ok", "no answer", "RATE_LIMITED", "LIMIT_REACHED"]).length === 0,
          "joins: at most 256 rooms, the rest RATE_LIMITED or LIMIT_REACHED",
        );
        return `${brief(r)} (of ${r.figures["sent"]} sent before the socket was cut)`;
      },
    );
    await attack(
      "history/rooms/read as fast as possible",
      () => user("reads"),
      (r) => {
        check(
          (r.answers["ok"] ?? 0) <= 100 + 50 * (ATTACK_MS / 1000 + 2) && (r.answers["RATE_LIMITED"] ?? 0) > 0,
          "reads: granted within the event budget (burst 100 + 50/s), the rest RATE_LIMITED",
        );
        return brief(r);
      },
    );
    await attack(
      "REST GET /api/me/rooms as fast as possible",
      () => address("rest-rooms"),
      (r) => {
        check(
          codes(r, ["200", "429", "no answer"]).length === 0 && (r.answers["429"] ?? 0) + (r.answers["no answer"] ?? 0) > 0,
          "REST me/rooms: 200 within the limits, the rest 429 or (twice over) dropped at accept",
        );
        return `HTTP ${brief(r)}`;
      },
    );
    await attack(
      "a token with 3,000 room patterns",
      () => user("token"),
      (r) => {
        check(JSON.stringify(r.answers) === JSON.stringify({ "UNAUTHORIZED AUTH_INVALID": 1 }), "token: connect_error AUTH_INVALID");
        return `${brief(r)} (${r.figures["token bytes"]} bytes)`;
      },
    );
    await waitUntilAccepted(previous);
    // Redis bytes per acknowledged send, at the allowed rate (20/s), flushed to Cassandra.
    const sendRoom = `abuse-${tag}:bytes`;
    const sender = connect(url, {
      auth: { token: await mintToken({ secret: SECRET, userId: `sender-${tag}`, rooms: [`abuse-${tag}:*`] }) },
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
    });
    await new Promise<void>((resolve, reject) => (sender.once("connect", resolve), sender.once("connect_error", reject)));
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.client!.info("memory"))?.[1]);
    const memoryBefore = await usedMemory();
    let acked = 0;
    for (let i = 0; i < 200; i++) {
      const reply = (await sender.timeout(10_000).emitWithAck("send", { room: sendRoom, clientId: `b${i}`, text: "x".repeat(100) })) as {
        ok: boolean;
      };
      if (reply.ok) acked++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    sender.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 5000)); // the flusher drains the stream
    const bytesPerSend = Math.round(((await usedMemory()) - memoryBefore) / Math.max(1, acked));
    log(`Redis bytes per acknowledged send after flushing: ${bytesPerSend} (${acked} sends)`);

    await attack(
      "one user opens 2,000 sockets",
      () => user("sockets"),
      (r) => {
        check(r.figures["held"]! <= 20, `sockets: ${r.figures["held"]} held, at most 20 per user`);
        return `${r.figures["held"]} held; ${brief(r)}`;
      },
    );
    // The address-level attacks last: HAProxy's per-address rates, once far over, keep shedding
    // every new connection from 127.0.0.1 for a while (the canary's held socket stays served).
    await attack(
      "unauthenticated polling handshakes",
      () => address("handshakes"),
      (r) => {
        check(
          codes(r, ["200", "429", "no answer"]).length === 0 &&
            (r.answers["429"] ?? 0) + (r.answers["no answer"] ?? 0) > 0 &&
            (r.answers["200"] ?? 0) <= 1000 * (ATTACK_MS / 10_000 + 1),
          "handshakes: at most the address's request rate, the rest 429 or (twice over) dropped at accept",
        );
        return `HTTP ${brief(r)}`;
      },
    );
    await attack(
      `${connections} slowloris connections from one address (of 9,000: FD limit ${fdLimit})`,
      () => address("connections", { count: connections }),
      (r) => {
        check(r.figures["readyz during"] === 200, "connections: /readyz (from another address) answered 200 while this one was shed");
        check(
          r.figures["still open at the end"]! <= 200,
          `connections: ${r.figures["still open at the end"]} still held after ${ATTACK_MS / 1000} s, at most the address's 200`,
        );
        return `${brief(r)}; ${JSON.stringify(r.figures)}`;
      },
    );

    canary.stop();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const rssEnd = await nodeRssMb(apps);
    check(canary.failures.length === 0, `no canary send failed (${canary.failures.slice(0, 5).join("; ")})`);
    const seqs = [...canary.acked].sort((a, b) => a - b);
    check(
      seqs.every((seq, i) => seq === i + 1),
      `canary: ${seqs.length} sends acknowledged, seqs 1..${seqs.length} without a gap`,
    );
    rssEnd.forEach((mb, i) =>
      check(mb <= rssBaseline[i]! * 1.2, `n${i + 1} RSS ${mb} MB within 20 % of its baseline ${rssBaseline[i]} MB (no forced GC)`),
    );
    check(
      processes.every((p, i) => p.child.exitCode === null && p.child.signalCode === null && p.child.pid === pids[i]),
      "no component exited or restarted",
    );

    log(`127.0.0.1 shed by the gateway after: ${JSON.stringify(shedSeconds)} (seconds)`);
    writeTable(rows, { bytesPerSend, acked, rssBaseline, rssEnd, connections, fdLimit, shedSeconds });
  } finally {
    canarySocket?.disconnect();
    redis.client?.disconnect();
    await apps?.stop();
    await stores?.stop();
  }
}

function writeTable(
  rows: Row[],
  extra: {
    bytesPerSend: number;
    acked: number;
    rssBaseline: number[];
    rssEnd: number[];
    connections: number;
    fdLimit: number;
    shedSeconds: Record<string, number>;
  },
): void {
  const file = join(REPO_ROOT, "docs", "security.md");
  const lines = [
    "<!-- abuse-table:begin (written by npm run abuse) -->",
    `Run of ${new Date().toISOString().slice(0, 16)} UTC, 2 nodes, gateway client limits on, canary 1 send/s; ${failures.length === 0 ? "every assertion held" : `${failures.length} assertion(s) failed: ${failures.join("; ")}`}.`,
    "",
    "| attack (one user or one address) | refused how | canary ack p50 / p99 ms (samples): before | during | node RSS MB before → after |",
    "|---|---|---|---|---|",
    ...rows.map(
      (row) =>
        `| ${row.attack} | ${row.refused.replaceAll("|", "/")} | ${fmt(row.baseline)} | ${fmt(row.during)} | ${row.rssBefore.join(", ")} → ${row.rssAfter.join(", ")} |`,
    ),
    `| sends at the allowed rate (${extra.acked} × 20/s) | not refused (allowed): ${extra.bytesPerSend} Redis bytes per acknowledged send after flushing, held for the idempotency window | | | |`,
    "",
    `Node RSS at the start ${extra.rssBaseline.join(", ")} MB, at the end (${SETTLE_MS / 1000} s after the last attack, no forced GC) ${extra.rssEnd.join(", ")} MB. Connections per attacker: ${extra.connections} (9,000 scaled to the descriptor limit ${extra.fdLimit}).`,
    `After an address-level flood the gateway kept refusing new connections from 127.0.0.1 (the canary's held socket stayed served) for, in seconds: ${JSON.stringify(extra.shedSeconds)}; the suite waits for it before the next attack.`,
    "<!-- abuse-table:end -->",
  ];
  const text = readFileSync(file, "utf8");
  const begin = text.indexOf("<!-- abuse-table:begin");
  const end = text.indexOf("<!-- abuse-table:end -->");
  if (begin < 0 || end < 0) throw new Error(`${file} lacks the abuse-table markers`);
  writeFileSync(file, `${text.slice(0, begin)}${lines.join("\n")}${text.slice(end + "<!-- abuse-table:end -->".length)}`);
  log(`table written to docs/security.md`);
}

main().then(
  () => {
    log(failures.length === 0 ? "every assertion held" : `${failures.length} failed:\n  ${failures.join("\n  ")}`);
    process.exit(failures.length === 0 ? 0 : 1);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
