/**
 * Parts 1 and 2 of a run: fan-out CPU per delivery (ours, raw uWS, socket.io on ws, and
 * Centrifugo when its part is wanted, all connected at once and measured interleaved, see
 * scenarios/fanout.ts), then the same rooms across two of our nodes through Redis.
 */
import type { MeasuredServer } from "../lib/servers.js";
import { startReference } from "../lib/servers.js";
import type { BenchResults } from "../report.js";
import { connectCentrifugoStacks } from "../scenarios/centrifugo.js";
import { connectStack, measureCluster, measureFanout, type ConnectedStack } from "../scenarios/fanout.js";
import { socketIoUrl, stopped, type BenchRun, type BenchStack } from "../stack.js";

export interface FanoutPart {
  fanout: BenchResults["fanout"];
  /** Our node's stack as connected for part 1, the one-node baseline of part 2 (when either is wanted). */
  oneNode: ConnectedStack | undefined;
}

export async function runFanoutPart(run: BenchRun, { nodeA, urlA, tokens, redisPid, generators, peers }: BenchStack): Promise<FanoutPart> {
  const { settings, wanted, dir, log, onCleanup, profiled } = run;
  let fanout: BenchResults["fanout"] = [];
  let oneNode: ConnectedStack | undefined;
  if (wanted("fanout") || wanted("cluster")) {
    const sizes = wanted("fanout") ? settings.fanout.roomSizes : settings.clusterRoomSizes;
    oneNode = await connectStack({ stack: "ours", kind: "socketio", server: nodeA, url: urlA, tokens, redisPid }, generators, sizes, "fan");
  }
  if (wanted("fanout") || peers) {
    log(`1. fan-out CPU per delivery${peers ? `, ${wanted("fanout") ? "with " : ""}Centrifugo (7)` : ""}`);
    const sizes = settings.fanout.roomSizes;
    const stacks: ConnectedStack[] = [];
    const references: MeasuredServer[] = [];
    if (wanted("fanout")) {
      const uws = onCleanup(await startReference("uws", dir), stopped);
      const sio = onCleanup(await startReference("socketio", dir), stopped);
      references.push(uws, sio);
      stacks.push(
        await connectStack({ stack: "uws", kind: "uws", server: uws, url: `ws://127.0.0.1:${uws.port}/` }, generators, sizes, "fan"),
        await connectStack({ stack: "socketio", kind: "socketio", server: sio, url: socketIoUrl(sio.port) }, generators, sizes, "fan"),
        oneNode!,
      );
    }
    if (peers) stacks.push(...(await connectCentrifugoStacks(peers, generators, sizes)));
    fanout = await profiled([...references, ...(wanted("fanout") ? [nodeA] : [])], "1-fanout", () =>
      measureFanout(stacks, generators, settings.fanout, log),
    );
    await Promise.all([...references, ...(peers ? [peers.memoryEngine] : [])].map((server) => server.stop()));
  }
  return { fanout, oneNode };
}

export async function runClusterPart(
  { settings, wanted, log, profiled }: BenchRun,
  { nodeA, urlA, tokens, redisPid, generators }: BenchStack,
  nodeB: MeasuredServer,
  oneNode: ConnectedStack | undefined,
): Promise<BenchResults["cluster"]> {
  if (!wanted("cluster")) return [];
  log("2. cluster fan-out (two nodes through Redis)");
  const urlB = socketIoUrl(nodeB.port);
  const clusterSettings = { ...settings.fanout, roomSizes: settings.clusterRoomSizes };
  const twoNodes = await connectStack(
    { stack: "ours", kind: "socketio", server: nodeA, url: urlA, tokens, redisPid },
    generators,
    clusterSettings.roomSizes,
    "cl",
    [urlA, urlB],
  );
  return profiled([nodeA, nodeB], "2-cluster", () => measureCluster(twoNodes, oneNode!, [nodeA, nodeB], generators, clusterSettings, log));
}
