/**
 * The core measurement: drive sends at a fixed rate, wait until every delivery arrived, and
 * charge the CPU the measured processes spent in that window to the deliveries counted by the
 * clients themselves. The window closes when exactly the expected deliveries were counted, and
 * is refused (lib/integrity.ts) when a send failed, a delivery is missing, repeated or
 * misrouted, or anything arrives after the window closed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { totalTally, type Generator } from "../load/pool.js";
import type { DeliveryTally, SendPlan, SendResult } from "../load/protocol.js";
import { requireExactDeliveries, requireNothingAfterWindow, requireSendsAcknowledged } from "../lib/integrity.js";
import { procCpuInMicros, type MeasuredServer } from "../lib/servers.js";

export interface CpuWindow {
  /** CPU microseconds of each measured server, by name, in the window. */
  serverCpuInMicros: Record<string, number>;
  /** The kernel's part of serverCpuInMicros, summed over the servers. */
  serverSystemCpuInMicros: number;
  /** CPU microseconds of Redis in the window, when a Redis pid was given. */
  redisCpuInMicros?: number;
  wallInMs: number;
}

/** A Redis's pid, or every node's of a Redis Cluster (its CPU is their sum). */
export type RedisPids = number | readonly number[];

export function redisCpuInMicros(redisPids: RedisPids): number {
  return (typeof redisPids === "number" ? [redisPids] : redisPids).reduce((sum, pid) => sum + procCpuInMicros(pid), 0);
}

export async function cpuSnapshot(servers: readonly MeasuredServer[], redisPid?: RedisPids): Promise<() => Promise<CpuWindow>> {
  const started = performance.now();
  const before = await Promise.all(servers.map((server) => server.probe()));
  const redisBefore = redisPid === undefined ? 0 : redisCpuInMicros(redisPid);
  return async () => {
    const after = await Promise.all(servers.map((server) => server.probe()));
    const serverCpuInMicros = Object.fromEntries(servers.map((server, i) => [server.name, after[i]!.cpuInMicros - before[i]!.cpuInMicros]));
    const serverSystemCpuInMicros = after.reduce((sum, reply, i) => sum + reply.systemCpuInMicros - before[i]!.systemCpuInMicros, 0);
    return {
      serverCpuInMicros,
      serverSystemCpuInMicros,
      redisCpuInMicros: redisPid === undefined ? undefined : redisCpuInMicros(redisPid) - redisBefore,
      wallInMs: performance.now() - started,
    };
  };
}

export interface FanoutWindow extends CpuWindow {
  send: SendResult;
  /** Deliveries counted when the CPU window closed: exactly expectedDeliveries. */
  deliveries: number;
  expectedDeliveries: number;
  tally: DeliveryTally;
}

/**
 * How long after the window the tally is read again: a repeat or a misrouted message that a
 * broken server emits with the original shows up by then. (A later one still fails a later
 * window: a seq at or below one already seen counts as a repeat.)
 */
const AFTER_WINDOW_IN_MS = 200;

/**
 * Sends `plan` from `sender`, waits for exactly acked × roomSize deliveries over `receivers` (at
 * most `settleInMs` after the last send), closes the CPU window, and refuses the window unless
 * every send was acknowledged, the deliveries are exactly the expected ones and nothing more
 * arrived after the window. `where` names the window in a refusal.
 */
export async function measureDeliveries(options: {
  where: string;
  servers: readonly MeasuredServer[];
  redisPid?: number;
  sender: Generator;
  plan: SendPlan;
  receivers: readonly Generator[];
  roomSize: number;
  settleInMs?: number;
}): Promise<FanoutWindow> {
  const { where, servers, redisPid, sender, plan, receivers, roomSize, settleInMs = 10_000 } = options;
  await Promise.all(receivers.map((generator) => generator.reset(plan.rooms)));
  const finish = await cpuSnapshot(servers, redisPid);
  const send = await sender.send(plan);
  requireSendsAcknowledged(where, send);
  const expectedDeliveries = send.acked * roomSize;
  const deadline = performance.now() + settleInMs;
  let tally = await totalTally(receivers);
  const broken = (t: DeliveryTally) => t.duplicated > 0 || t.misrouted > 0 || t.malformed > 0;
  while (tally.counted < expectedDeliveries && !broken(tally) && performance.now() < deadline) {
    await sleep(20);
    tally = await totalTally(receivers);
  }
  const window = await finish();
  requireExactDeliveries(where, expectedDeliveries, tally);
  await sleep(AFTER_WINDOW_IN_MS);
  requireNothingAfterWindow(where, tally, await totalTally(receivers), expectedDeliveries);
  return { ...window, send, deliveries: tally.counted, expectedDeliveries, tally };
}

export function sumCpu(window: CpuWindow, { withRedis }: { withRedis: boolean }): number {
  const servers = Object.values(window.serverCpuInMicros).reduce((sum, micros) => sum + micros, 0);
  return servers + (withRedis ? (window.redisCpuInMicros ?? 0) : 0);
}
