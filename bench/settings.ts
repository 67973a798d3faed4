/** Sizes and durations of a bench run: the full run, and `--quick` (under 3 minutes). */
import type { ChangesSettings } from "./scenarios/changes.js";
import type { FanoutSettings } from "./scenarios/fanout.js";
import type { IngestSettings } from "./scenarios/ingest.js";
import type { FlushSettings } from "./flush-vs-raw.js";

export interface BenchSettings {
  mode: "full" | "quick";
  fanout: FanoutSettings;
  clusterRoomSizes: number[];
  ingest: IngestSettings;
  /** Item 4's changes (edits and reactions) beside the sends, by the ingest senders. */
  changes: ChangesSettings;
  memoryConnections: number;
  /** Generator processes that hold the idle connections. */
  memoryGenerators: number;
  flush: FlushSettings;
}

const TEXT_BYTES = 100;

export const FULL: BenchSettings = {
  mode: "full",
  fanout: {
    roomSizes: [10, 100, 1000],
    deliveriesPerSecond: 10_000,
    durationInMs: 4000,
    textBytes: TEXT_BYTES,
    rounds: 3,
    warmupInMs: 1000,
  },
  clusterRoomSizes: [100, 1000],
  ingest: {
    sendersPerGenerator: 32,
    rooms: 16,
    inFlightPerSender: 4,
    warmupInMs: 1000,
    maxDurationInMs: 8000,
    latencyDurationInMs: 10_000,
    textBytes: TEXT_BYTES,
    fixedRatePerSecond: 2000,
  },
  changes: {
    seedDurationInMs: 1000,
    targetsPerGenerator: 64,
    warmupInMs: 1000,
    inFlightPerSender: 4,
    maxDurationInMs: 8000,
    latencyDurationInMs: 10_000,
    fixedRatePerSecond: 500,
  },
  memoryConnections: 20_000,
  memoryGenerators: 4,
  flush: { rows: 100_000, rooms: 64, textBytes: TEXT_BYTES },
};

export const QUICK: BenchSettings = {
  mode: "quick",
  fanout: { ...FULL.fanout, durationInMs: 1500, rounds: 1, warmupInMs: 400 },
  clusterRoomSizes: [100, 1000],
  ingest: { ...FULL.ingest, sendersPerGenerator: 16, warmupInMs: 400, maxDurationInMs: 2500, latencyDurationInMs: 2500 },
  changes: { ...FULL.changes, seedDurationInMs: 400, warmupInMs: 400, maxDurationInMs: 2500, latencyDurationInMs: 2500 },
  memoryConnections: 4000,
  memoryGenerators: 2,
  flush: { rows: 20_000, rooms: 64, textBytes: TEXT_BYTES },
};
