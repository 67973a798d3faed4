/**
 * One reconnect storm against a running cluster: N SDK clients through the gateway, each its
 * own user in one small and one big room; one sender per room, connected to a node directly
 * (a server-side integration, or users on another entry point), keeps every room busy. Then
 * every client loses its session at the same instant (`target.fault`), each sends one message
 * during the outage (its outbox keeps it), and the run records per client the time from losing
 * the session to the SDK's `synced` (every room caught up, `join { since }` page after page).
 * Afterwards each client's room models are checked against every acknowledged send.
 */
import type { BackoffOptions } from "../../client/backoff.js";
import { AckLedger } from "./ledger.js";
import { joinAll, recordedClient, type RecordedClient } from "./clients.js";
import { distribution, type Distribution } from "./stats.js";
import { historyDelta, type HistoryCounts } from "./history-reads.js";

export interface StormTarget {
  gatewayUrl: string;
  /** The nodes' own URLs, for the senders (they do not go through the gateway). */
  nodeUrls: string[];
  token(userId: string, rooms: string[]): Promise<string>;
  /** Cuts every client's connection at once; resolves when the entry point takes connections again. */
  fault(): Promise<void>;
  /** What the fault is, in words, for the report. */
  faultName: string;
  /** The nodes' history counters (history-reads.ts), read before the fault and once every client caught up. */
  historyCounts?(): Promise<HistoryCounts>;
}

export interface StormOptions {
  clients: number;
  /** Each client joins one of these (client i: room i mod smallRooms)… */
  smallRooms: number;
  /** …and one of these (client i: room i mod bigRooms). */
  bigRooms: number;
  /** Each room's sender sends one message every this many ms. */
  sendIntervalInMs: number;
  /** Traffic before the fault. */
  warmupInMs: number;
  /** A client not caught up this long after the fault counts as never caught up. */
  boundInMs: number;
  /** Room and user names start with it (unique per run). */
  tag: string;
  /** The storm clients' reconnect backoff; the SDK's defaults when absent. */
  backoff?: BackoffOptions;
  log(line: string): void;
}

export interface StormResult {
  clients: number;
  rooms: number;
  faultName: string;
  /** Fault to the gateway taking connections again. */
  entryDownInMs: number;
  /** Per caught-up client: its session lost → `synced`, and fault → `synced`. */
  noticedToCaughtUp: Distribution;
  faultToCaughtUp: Distribution;
  /** Of which: session lost → session open again (backoff and handshake), and that → `synced` (the rejoins). */
  noticedToReconnected: Distribution;
  reconnectedToCaughtUp: Distribution;
  notCaughtUp: number;
  /** `synced` emitted while a room did not yet hold every seq acknowledged before the fault. */
  caughtUpEarly: number;
  lost: number;
  gaps: number;
  duplicates: number;
  acked: number;
  /** The storm clients' own sends made during the outage, and how many of them were acknowledged. */
  outageSends: number;
  outageSendsAcked: number;
  failedSends: number;
  /** The SDK's `error` events of the storm clients by code (refused handshakes while the gateway is down: UNAVAILABLE). */
  sdkErrors: Record<string, number>;
  /** History requests and the storage reads they cost, from before the fault to the last client caught up (when the target counts them). */
  catchUpHistory?: HistoryCounts;
  /** First session open again → last client caught up: the span the catch-up's reads fell in. */
  catchUpSpanInMs: number;
  problems: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `promise`, at most `ms`; the timer is cleared, so it does not hold the process open. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export async function runStorm(target: StormTarget, options: StormOptions): Promise<StormResult> {
  const { tag, log } = options;
  const smallRooms = Array.from({ length: options.smallRooms }, (_, i) => `${tag}-small-${i}`);
  const bigRooms = Array.from({ length: options.bigRooms }, (_, i) => `${tag}-big-${i}`);
  const rooms = [...smallRooms, ...bigRooms];
  const ledger = new AckLedger();
  const problems: string[] = [];
  const clients: RecordedClient[] = [];
  const senders: RecordedClient[] = [];
  const sendsInFlight: Promise<unknown>[] = [];
  let failedSends = 0;
  const track = (sending: Promise<unknown>, what: string) =>
    sendsInFlight.push(
      sending.catch((error: Error) => {
        failedSends += 1;
        if (problems.length < 20) problems.push(`${what}: send failed: ${error.message}`);
      }),
    );
  const recordAcks = (recorded: RecordedClient) =>
    recorded.client.on("sent", ({ operation, result }) => {
      if ("id" in result)
        ledger.record({ room: operation.room, seq: result.seq, id: result.id, clientId: operation.clientId, at: Date.now() });
    });

  try {
    log(`connecting ${options.clients} SDK clients through ${target.gatewayUrl} into ${rooms.length} rooms…`);
    for (let i = 0; i < options.clients; i += 1) {
      const userId = `${tag}-u${i}`;
      const theirRooms = [smallRooms[i % smallRooms.length]!, bigRooms[i % bigRooms.length]!];
      const url = target.gatewayUrl;
      clients.push(
        recordedClient({ userId, rooms: theirRooms, url, token: await target.token(userId, theirRooms), backoff: options.backoff }),
      );
    }
    clients.forEach(recordAcks);
    await joinAll(clients);
    for (const [i, room] of rooms.entries()) {
      const userId = `${tag}-sender-${i}`;
      const url = target.nodeUrls[i % target.nodeUrls.length]!;
      senders.push(recordedClient({ userId, rooms: [], url, token: await target.token(userId, [room]) }));
    }
    senders.forEach(recordAcks);
    log(`every client joined its 2 rooms; ${senders.length} senders (one per room, on the nodes directly) start`);

    let sending = true;
    const senderLoops = senders.map(async (sender, i) => {
      const room = rooms[i]!;
      await sleep(Math.random() * options.sendIntervalInMs);
      for (let n = 0; sending; n += 1) {
        track(sender.client.send(room, `${sender.userId} #${n}`), sender.userId);
        await sleep(options.sendIntervalInMs);
      }
    });
    await sleep(options.warmupInMs);
    const quiet = clients.filter((recorded) => recorded.rooms.some((room) => (recorded.client.room(room)?.lastSeq ?? 0) === 0));
    if (quiet.length > 0) problems.push(`${quiet.length} clients received nothing during the warm-up`);

    const historyBefore = await target.historyCounts?.();
    // The fault. Acks seen up to this instant are "acknowledged before the fault".
    const faultAt = Date.now();
    let caughtUpEarly = 0;
    for (const recorded of clients) {
      recorded.faultAt = faultAt;
      recorded.onCaughtUp = () => {
        const behind = recorded.rooms.filter((room) => (recorded.client.room(room)?.lastSeq ?? 0) < ledger.lastAckedBy(room, faultAt));
        if (behind.length === 0) return;
        caughtUpEarly += 1;
        if (problems.length < 20)
          problems.push(`${recorded.userId}: synced while ${behind.join(", ")} lacked seqs acknowledged before the fault`);
      };
    }
    log(`fault: ${target.faultName}`);
    const faulted = target.fault();
    // Each user writes one message while offline, within the first second: the outbox keeps it.
    let outageSendsAcked = 0;
    for (const recorded of clients) {
      const room = recorded.rooms[0]!;
      const text = `${recorded.userId} during the outage`;
      setTimeout(
        () =>
          track(
            recorded.client.send(room, text).then(() => (outageSendsAcked += 1)),
            recorded.userId,
          ),
        Math.random() * 1000,
      );
    }
    await faulted;
    const entryDownInMs = Date.now() - faultAt;
    log(`the gateway takes connections again after ${entryDownInMs} ms; waiting for every client to catch up…`);

    const deadline = faultAt + options.boundInMs;
    while (clients.some((recorded) => recorded.syncedAt === undefined) && Date.now() < deadline) await sleep(50);
    const caughtUp = clients.filter((recorded) => recorded.syncedAt !== undefined);
    const historyAfter = historyBefore && (await target.historyCounts?.());
    const catchUpHistory = historyBefore && historyAfter && historyDelta(historyBefore, historyAfter);
    log(`${caughtUp.length}/${clients.length} clients caught up; traffic continues 3 s, then stops`);

    await sleep(3000);
    sending = false;
    await Promise.all(senderLoops);
    await settledWithin(Promise.all(sendsInFlight), options.boundInMs);
    // Every client's rooms reach the last acknowledged seq (live events or gap fills), or the bound passes.
    const settled = () =>
      clients.every((recorded) => recorded.rooms.every((room) => (recorded.client.room(room)?.lastSeq ?? 0) >= ledger.lastSeq(room)));
    const settleDeadline = Date.now() + 15_000;
    while (!settled() && Date.now() < settleDeadline) await sleep(50);

    let lost = 0;
    let gaps = 0;
    let duplicates = 0;
    for (const recorded of clients) {
      for (const room of recorded.rooms) {
        const check = ledger.check(room, recorded.client.room(room)?.messages ?? [], recorded.emitted.get(room) ?? []);
        lost += check.lost;
        gaps += check.gaps;
        duplicates += check.duplicates;
        for (const problem of check.problems) if (problems.length < 20) problems.push(`${recorded.userId}: ${problem}`);
      }
    }
    for (const room of rooms) {
      const unacknowledged = ledger.unacknowledged(room);
      if (unacknowledged.length > 0)
        problems.push(`${room}: seqs ${unacknowledged.slice(0, 5).join(", ")} were stored but no ack named them`);
    }
    problems.push(...ledger.conflicts.slice(0, 5));
    return {
      clients: clients.length,
      rooms: rooms.length,
      faultName: target.faultName,
      entryDownInMs,
      noticedToCaughtUp: distribution(caughtUp.map((recorded) => recorded.syncedAt! - (recorded.downAt ?? faultAt))),
      noticedToReconnected: distribution(caughtUp.map((recorded) => recorded.reconnectedAt! - (recorded.downAt ?? faultAt))),
      reconnectedToCaughtUp: distribution(caughtUp.map((recorded) => recorded.syncedAt! - recorded.reconnectedAt!)),
      faultToCaughtUp: distribution(caughtUp.map((recorded) => recorded.syncedAt! - faultAt)),
      notCaughtUp: clients.length - caughtUp.length,
      caughtUpEarly,
      lost,
      gaps,
      duplicates,
      acked: ledger.size,
      outageSends: clients.length,
      outageSendsAcked,
      failedSends,
      sdkErrors: countByCode(clients),
      ...(catchUpHistory ? { catchUpHistory } : {}),
      catchUpSpanInMs:
        caughtUp.length === 0
          ? 0
          : Math.max(...caughtUp.map((recorded) => recorded.syncedAt!)) - Math.min(...caughtUp.map((recorded) => recorded.reconnectedAt!)),
      problems,
    };
  } finally {
    for (const recorded of [...clients, ...senders]) recorded.client.close();
  }
}

/** The verdict: what must hold, in words, with whether it does. */
export function verdicts(result: StormResult): Array<{ ok: boolean; what: string }> {
  return [
    { ok: result.notCaughtUp === 0, what: `every client caught up (${result.notCaughtUp} never did within the bound)` },
    {
      ok: result.caughtUpEarly === 0,
      what: `no client reported caught up before it held every seq acknowledged before the fault (${result.caughtUpEarly})`,
    },
    { ok: result.lost === 0, what: `no acknowledged message missing from a client's rooms (${result.lost})` },
    { ok: result.gaps === 0, what: `no gap in a client's rooms or message events (${result.gaps})` },
    { ok: result.duplicates === 0, what: `no duplicate in a client's rooms or message events (${result.duplicates})` },
    {
      ok: result.outageSendsAcked === result.outageSends,
      what: `every send made during the outage acknowledged (${result.outageSendsAcked}/${result.outageSends})`,
    },
    { ok: result.failedSends === 0, what: `no send refused for good (${result.failedSends})` },
    { ok: result.problems.length === 0, what: `no other problem (${result.problems.length})` },
  ];
}

function countByCode(clients: RecordedClient[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const recorded of clients) for (const error of recorded.errors) counts[error.code] = (counts[error.code] ?? 0) + 1;
  return counts;
}
