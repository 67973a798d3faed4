/**
 * Items 1 and 2: server CPU microseconds per delivered message.
 *
 * Item 1 compares, in rooms of 10, 100 and 1000 sockets with 100-byte messages, our node
 * (deliveries driven by `send`: validation, the durable append to the Redis stream, the ack,
 * then the broadcast through the Redis adapter, i.e. what a user's message costs) with raw
 * uWebSockets.js `app.publish` and with plain socket.io on `ws`, each driven the same way: one
 * room member sends, the server broadcasts to the room, the sender included.
 *
 * Item 2 puts half of a room on a second node: CPU of both nodes + Redis per delivery, against
 * one node + Redis, measured alternately in the same phase.
 *
 * Every stack stays connected for the whole phase and the measurements are interleaved over
 * several rounds (stack after stack, round after round), after an unmeasured warm-up window per
 * stack and room (JIT, Redis script loading, a new room's seq seeding from Cassandra). Each
 * figure is the best round: interference from other processes on the machine only ever adds
 * CPU time (cache misses, softirqs charged to whoever runs), so the lowest round is the one
 * closest to the stack's own cost, and all stacks get the same treatment.
 */
import type { Generator } from "../load/pool.js";
import type { WireKind } from "../load/protocol.js";
import type { MeasuredServer } from "../lib/servers.js";
import { setTimeout as sleep } from "node:timers/promises";
import { cpuSnapshot, measureDeliveries, sumCpu, type FanoutWindow } from "./measure.js";

/** "centrifugo": Centrifugo with its Redis engine; "centrifugo-memory": with its memory engine (no Redis). */
export type Stack = "ours" | "uws" | "socketio" | "centrifugo" | "centrifugo-memory";

export interface FanoutSettings {
  roomSizes: number[];
  /** Deliveries per second the sender drives, the same for every stack and room size. */
  deliveriesPerSecond: number;
  durationInMs: number;
  textBytes: number;
  /** Interleaved rounds; each figure is the best (lowest) round. */
  rounds: number;
  /** Unmeasured window before the first round, per stack and room size. */
  warmupInMs: number;
}

export interface FanoutRow {
  stack: Stack;
  roomSize: number;
  sends: number;
  deliveries: number;
  expectedDeliveries: number;
  serverCpuInMicros: number;
  redisCpuInMicros: number | null;
  cpuPerDeliveryInMicros: number;
  /** The kernel's part of cpuPerDeliveryInMicros (socket writes, and on loopback the receiving side's TCP path). */
  systemCpuPerDeliveryInMicros: number;
  /** Server + Redis, for the comparison with the cluster. */
  cpuWithRedisPerDeliveryInMicros: number | null;
  wallInMs: number;
  /** cpuPerDeliveryInMicros of every round, in order; the row is the best one. */
  rounds: number[];
  /**
   * The server's CPU with its clients connected and nothing sent (timers, pings, store
   * heartbeats), per delivery at the bench's delivery rate: the floor the windows carry.
   */
  idleCpuPerDeliveryInMicros: number;
}

export interface StackUnderTest {
  stack: Stack;
  kind: WireKind;
  server: MeasuredServer;
  url: string;
  /** Token per generator (ours only). */
  tokens?: string[];
  redisPid?: number;
}

/** A stack with its room members connected and joined: client `firsts[g]` of generator g onwards. */
export interface ConnectedStack {
  target: StackUnderTest;
  firsts: number[];
  roomPrefix: string;
}

function roomName(prefix: string, size: number): string {
  return `${prefix}-${size}`;
}

/** Members of a room of `size` on generator g: half each, the odd one on generator 0. */
function membersOn(g: number, size: number): number {
  return g === 0 ? Math.ceil(size / 2) : Math.floor(size / 2);
}

/**
 * Connects max(roomSizes) clients split over the generators (to `urls[g]`, default the
 * target's url) and joins client i to every room larger than i. Client `firsts[0]` of
 * generator 0 is the sender.
 */
export async function connectStack(
  target: StackUnderTest,
  generators: readonly Generator[],
  roomSizes: readonly number[],
  roomPrefix: string,
  urls?: readonly string[],
): Promise<ConnectedStack> {
  const largest = Math.max(...roomSizes);
  const firsts = await Promise.all(
    generators.map((generator, g) =>
      generator.connect(target.kind, urls?.[g] ?? target.url, membersOn(g, largest), { token: target.tokens?.[g] }),
    ),
  );
  for (const size of roomSizes) {
    await Promise.all(
      generators.map((generator, g) => generator.join(firsts[g]!, firsts[g]! + membersOn(g, size), roomName(roomPrefix, size))),
    );
  }
  return { target, firsts, roomPrefix };
}

/** One measuring window: the sender drives the room at the set delivery rate. `where` names it in a refusal. */
export async function measureOnce(
  where: string,
  connected: ConnectedStack,
  servers: readonly MeasuredServer[],
  generators: readonly Generator[],
  size: number,
  settings: FanoutSettings,
): Promise<FanoutWindow> {
  const { target, firsts, roomPrefix } = connected;
  return measureDeliveries({
    where,
    servers,
    redisPid: target.redisPid,
    sender: generators[0]!,
    receivers: generators,
    roomSize: size,
    plan: {
      from: firsts[0]!,
      to: firsts[0]! + 1,
      rooms: [roomName(roomPrefix, size)],
      textBytes: settings.textBytes,
      ratePerSecond: settings.deliveriesPerSecond / size,
      durationInMs: settings.durationInMs,
      recordAckLatency: false,
    },
  });
}

/** The best (lowest) row by cpuPerDeliveryInMicros, carrying every round's figure. */
function bestRow(rows: readonly FanoutRow[]): FanoutRow {
  const best = rows.reduce((a, b) => (b.cpuPerDeliveryInMicros < a.cpuPerDeliveryInMicros ? b : a));
  return { ...best, rounds: rows.map((row) => row.cpuPerDeliveryInMicros) };
}

async function warmUp(
  where: string,
  connected: ConnectedStack,
  generators: readonly Generator[],
  size: number,
  settings: FanoutSettings,
): Promise<void> {
  await measureOnce(`${where} warm-up, room ${size}`, connected, [connected.target.server], generators, size, {
    ...settings,
    durationInMs: settings.warmupInMs,
  });
}

/** Item 1: every stack, every room size, `rounds` interleaved rounds. */
export async function measureFanout(
  stacks: readonly ConnectedStack[],
  generators: readonly Generator[],
  settings: FanoutSettings,
  log: (line: string) => void,
): Promise<FanoutRow[]> {
  const all = new Map<string, FanoutRow[]>();
  for (const size of settings.roomSizes)
    for (const connected of stacks) await warmUp(`fan-out ${connected.target.stack}`, connected, generators, size, settings);
  // The idle floor of every stack over one shared window: nothing is sent to any of them, so
  // they do not disturb one another, and one window instead of one per stack keeps --quick short.
  const idle = new Map<Stack, number>();
  const finishIdle = await cpuSnapshot(stacks.map((connected) => connected.target.server));
  await sleep(settings.durationInMs);
  const idleWindow = await finishIdle();
  for (const connected of stacks) {
    idle.set(
      connected.target.stack,
      ((idleWindow.serverCpuInMicros[connected.target.server.name]! / idleWindow.wallInMs) * 1000) / settings.deliveriesPerSecond,
    );
  }
  for (let round = 1; round <= settings.rounds; round++) {
    for (const size of settings.roomSizes) {
      for (const connected of stacks) {
        const window = await measureOnce(
          `fan-out ${connected.target.stack}, room ${size}, round ${round}`,
          connected,
          [connected.target.server],
          generators,
          size,
          settings,
        );
        const row = toRow(connected.target.stack, size, window, connected.target.redisPid !== undefined);
        log(
          `  round ${round} fan-out ${row.stack} room ${size}: ${row.cpuPerDeliveryInMicros.toFixed(2)} µs/delivery, ${row.systemCpuPerDeliveryInMicros.toFixed(2)} of it kernel (${row.deliveries}/${row.expectedDeliveries} deliveries)`,
        );
        const key = `${row.stack}/${size}`;
        all.set(key, [...(all.get(key) ?? []), row]);
      }
    }
  }
  return [...all.values()].map((rows) => ({ ...bestRow(rows), idleCpuPerDeliveryInMicros: idle.get(rows[0]!.stack) ?? Number.NaN }));
}

export interface ClusterRow {
  roomSize: number;
  nodes: number;
  sends: number;
  deliveries: number;
  expectedDeliveries: number;
  cpuByProcessInMicros: Record<string, number>;
  /** CPU of every node + Redis, per delivery (best round). */
  cpuPerDeliveryInMicros: number;
  /** One node + Redis, per delivery, measured alternately with the cluster (best round). */
  oneNodeCpuPerDeliveryInMicros: number;
  rounds: { cluster: number; oneNode: number }[];
}

/**
 * Item 2: `cluster` has half of each room on node A (with the sender) and half on node B;
 * `oneNode` has whole rooms on A. Alternates the two, `rounds` times per room size.
 */
export async function measureCluster(
  cluster: ConnectedStack,
  oneNode: ConnectedStack,
  nodes: readonly MeasuredServer[],
  generators: readonly Generator[],
  settings: FanoutSettings,
  log: (line: string) => void,
): Promise<ClusterRow[]> {
  const rows: ClusterRow[] = [];
  for (const size of settings.roomSizes) {
    const rounds: { cluster: number; oneNode: number; window: FanoutWindow }[] = [];
    await warmUp("cluster (two nodes)", cluster, generators, size, settings);
    for (let round = 1; round <= settings.rounds; round++) {
      const single = await measureOnce(
        `cluster's one-node reference, room ${size}, round ${round}`,
        oneNode,
        [oneNode.target.server],
        generators,
        size,
        settings,
      );
      const window = await measureOnce(`cluster (two nodes), room ${size}, round ${round}`, cluster, nodes, generators, size, settings);
      const perDelivery = (w: FanoutWindow) => sumCpu(w, { withRedis: true }) / w.deliveries;
      rounds.push({ cluster: perDelivery(window), oneNode: perDelivery(single), window });
      log(
        `  round ${round} room ${size}: two nodes ${perDelivery(window).toFixed(2)}, one node ${perDelivery(single).toFixed(2)} µs/delivery incl. Redis (${window.deliveries}/${window.expectedDeliveries}, ${single.deliveries}/${single.expectedDeliveries})`,
      );
    }
    const best = (values: number[]) => Math.min(...values);
    const clusterBest = best(rounds.map((r) => r.cluster));
    const { window } = rounds.find((r) => r.cluster === clusterBest)!;
    rows.push({
      roomSize: size,
      nodes: nodes.length,
      sends: window.send.acked,
      deliveries: window.deliveries,
      expectedDeliveries: window.expectedDeliveries,
      cpuByProcessInMicros: { ...window.serverCpuInMicros, redis: window.redisCpuInMicros ?? 0 },
      cpuPerDeliveryInMicros: clusterBest,
      oneNodeCpuPerDeliveryInMicros: best(rounds.map((r) => r.oneNode)),
      rounds: rounds.map(({ cluster: c, oneNode: o }) => ({ cluster: c, oneNode: o })),
    });
  }
  return rows;
}

function toRow(stack: Stack, roomSize: number, window: FanoutWindow, withRedis: boolean): FanoutRow {
  const server = sumCpu(window, { withRedis: false });
  // measureDeliveries refused any window whose deliveries are not exactly the expected (> 0) ones.
  const deliveries = window.deliveries;
  return {
    stack,
    roomSize,
    sends: window.send.acked,
    deliveries: window.deliveries,
    expectedDeliveries: window.expectedDeliveries,
    serverCpuInMicros: server,
    redisCpuInMicros: withRedis ? (window.redisCpuInMicros ?? 0) : null,
    cpuPerDeliveryInMicros: server / deliveries,
    systemCpuPerDeliveryInMicros: window.serverSystemCpuInMicros / deliveries,
    cpuWithRedisPerDeliveryInMicros: withRedis ? (server + (window.redisCpuInMicros ?? 0)) / deliveries : null,
    wallInMs: window.wallInMs,
    rounds: [],
    idleCpuPerDeliveryInMicros: Number.NaN,
  };
}
