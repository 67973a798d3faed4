/**
 * The attacks of issue 17's table as the abuse suite replays them, each with what it must be
 * refused by (docs/protocol.md "Limits") and the "refused how" cell of its row. The runner
 * (scripts/abuse.ts) times the canary around each and checks its latency; the attackers run in
 * processes of their own (test/limits/abuse/attacker.ts, test/abuse/gateway-attacks.ts).
 *
 * Two groups, in this order: `firstAttacks`, then (after the Redis bytes measurement)
 * `lastAttacks`, which ends with the address-level attacks: HAProxy's per-address rates, once far
 * over, keep shedding every new connection from 127.0.0.1 for a while (the canary's held socket
 * stays served).
 */
import { brief, codes, type Report } from "./report.js";

export interface AttackKit {
  /** Runs one attack between two canary samples; `judge` checks the report and returns the "refused how" cell. */
  /** Skipped (undefined) when `--only` names another attack. */
  attack(name: string, runIt: () => Promise<Report>, judge: (report: Report) => string, windowMs?: number): Promise<Report | undefined>;
  /** One user's attack, by name (test/limits/abuse/attacker.ts), for attackMs unless told. */
  user(name: string, durationInMs?: number): Promise<Report>;
  /** One address's attack, by name (test/abuse/gateway-attacks.ts). */
  address(name: string, extra?: object): Promise<Report>;
  check(ok: boolean, what: string): void;
  attackMs: number;
  /** The window (and baseline) of an attack that comes in bursts: enough canary samples that p99 is not the single slowest. */
  longWindowMs: number;
  /** Connections one attacker may open, and the descriptor limit that bounds it. */
  connections: number;
  fdLimit: number;
}

export async function firstAttacks({ attack, user, address, check, attackMs }: AttackKit): Promise<void> {
  await attack(
    "typing as fast as possible into a room of 20",
    () => user("typing"),
    (r) => {
      check(
        codes(r, ["ok", "no answer", "RATE_LIMITED"]).length === 0 && (r.answers["RATE_LIMITED"] ?? 0) > 0,
        "typing: refused RATE_LIMITED by the event budget",
      );
      check(
        r.figures["delivered per listener"]! <= attackMs / 2000 + 1,
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
        (r.answers["ok"] ?? 0) <= 100 + 50 * (attackMs / 1000 + 2) && (r.answers["RATE_LIMITED"] ?? 0) > 0,
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
}

export async function lastAttacks({
  attack,
  user,
  address,
  check,
  attackMs,
  longWindowMs,
  connections,
  fdLimit,
}: AttackKit): Promise<void> {
  // Repeated every 10 s for the whole long window (attacker.ts), holding what it got.
  await attack(
    "one user opens 2,000 sockets",
    () => user("sockets", longWindowMs),
    (r) => {
      check(r.figures["held"]! <= 20, `sockets: ${r.figures["held"]} held, at most 20 per user`);
      return `${r.figures["held"]} held; ${r.figures["rounds"]} rounds of 2,000: ${brief(r)}`;
    },
    longWindowMs,
  );
  await attack(
    "unauthenticated polling handshakes",
    () => address("handshakes"),
    (r) => {
      check(
        codes(r, ["200", "429", "no answer"]).length === 0 &&
          (r.answers["429"] ?? 0) + (r.answers["no answer"] ?? 0) > 0 &&
          (r.answers["200"] ?? 0) <= 1000 * (attackMs / 10_000 + 1),
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
        `connections: ${r.figures["still open at the end"]} still held after ${attackMs / 1000} s, at most the address's 200`,
      );
      return `${brief(r)}; ${JSON.stringify(r.figures)}`;
    },
  );
}
