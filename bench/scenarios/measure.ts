/**
 * The core measurement: drive sends at a fixed rate, wait until every delivery arrived, and
 * charge the CPU the measured processes spent in that window to the deliveries counted by the
 * clients themselves.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { totalReceived, type Generator } from "../load/pool.js";
import type { SendPlan, SendResult } from "../load/protocol.js";
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

export async function cpuSnapshot(servers: readonly MeasuredServer[], redisPid?: number): Promise<() => Promise<CpuWindow>> {
  const started = performance.now();
  const before = await Promise.all(servers.map((server) => server.probe()));
  const redisBefore = redisPid === undefined ? 0 : procCpuInMicros(redisPid);
  return async () => {
    const after = await Promise.all(servers.map((server) => server.probe()));
    const serverCpuInMicros = Object.fromEntries(servers.map((server, i) => [server.name, after[i]!.cpuInMicros - before[i]!.cpuInMicros]));
    const serverSystemCpuInMicros = after.reduce((sum, reply, i) => sum + reply.systemCpuInMicros - before[i]!.systemCpuInMicros, 0);
    return { serverCpuInMicros, serverSystemCpuInMicros, redisCpuInMicros: redisPid === undefined ? undefined : procCpuInMicros(redisPid) - redisBefore, wallInMs: performance.now() - started };
  };
}

export interface FanoutWindow extends CpuWindow {
  send: SendResult;
  deliveries: number;
  expectedDeliveries: number;
}

/**
 * Sends `plan` from `sender`, waits for acked × roomSize deliveries over `receivers` (at most
 * `settleInMs` after the last send), and returns the CPU spent meanwhile.
 */
export async function measureDeliveries(options: { servers: readonly MeasuredServer[]; redisPid?: number; sender: Generator; plan: SendPlan; receivers: readonly Generator[]; roomSize: number; settleInMs?: number }): Promise<FanoutWindow> {
  const { servers, redisPid, sender, plan, receivers, roomSize, settleInMs = 10_000 } = options;
  await Promise.all(receivers.map((generator) => generator.reset()));
  const finish = await cpuSnapshot(servers, redisPid);
  const send = await sender.send(plan);
  const expectedDeliveries = send.acked * roomSize;
  const deadline = performance.now() + settleInMs;
  let deliveries = await totalReceived(receivers);
  while (deliveries < expectedDeliveries && performance.now() < deadline) {
    await sleep(20);
    deliveries = await totalReceived(receivers);
  }
  const window = await finish();
  // A late straggler would make the count exceed what was charged; read once more to report it.
  deliveries = await totalReceived(receivers);
  return { ...window, send, deliveries, expectedDeliveries };
}

export function sumCpu(window: CpuWindow, { withRedis }: { withRedis: boolean }): number {
  const servers = Object.values(window.serverCpuInMicros).reduce((sum, micros) => sum + micros, 0);
  return servers + (withRedis ? (window.redisCpuInMicros ?? 0) : 0);
}
