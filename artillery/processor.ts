/**
 * The Artillery processor of the chat suites (artillery/*.yml).
 *
 * Why the processor drives socket.io-client instead of Artillery's socketio engine: the
 * engine connects before the first step of a scenario with `socketio.auth` templated from the
 * scenario's variables, and it runs no beforeScenario hook, so nothing can mint a JWT for
 * each virtual user (a distinct `sub`: rate limits and room permissions are per user) before
 * that connect; and its `emit`/`acknowledge` steps cannot time a broadcast from one user to
 * another or check seqs. So each scenario's steps are these functions, run by Artillery's
 * scheduler (arrival phases, loops, think, ensure), with socket.io-client 4.8 (the version
 * Artillery 2.0.21's socketio engine bundles too) connecting the way docs/protocol.md says:
 * `io(url, { auth: { token } })`.
 *
 * Variables (config.variables in the YAML; defaults below): smallRooms, smallRoomsPerUser,
 * largeRooms, largeRoomShare, largeRoomSendShare, editShare, deleteShare, reactShare (message
 * changes: see lib/change-book.ts; 0, none, by default), ackTimeoutMs, deliveryGraceMs,
 * transports ("websocket" or "polling,websocket"), thinkMs, for the storm stormAtSeconds
 * and outageSeconds, and for the spike admissionMaxWaitSeconds (how long a refused handshake is
 * retried, honouring Retry-After: lib/admission.ts) and cohortSplitPhase (per-phase figures of
 * users admitted before that phase vs newcomers: lib/per-phase.ts). Environment: CHAT_JWT_SECRET (else the dev default of `npm start`),
 * LOAD_RUN_ID (names this run's rooms; scripts/load.ts sets it).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parentPort, threadId } from "node:worker_threads";
import type { EventEmitter } from "node:events";
import { DEV_JWT_SECRET, mintToken } from "../scripts/lib/tokens.js";
import { NeverAdmitted } from "./lib/admission.js";
import { DeliveryLedger } from "./lib/ledger.js";
import { metricSafe, PhaseClock, phasesOfSuite, tagged, type Cohort } from "./lib/per-phase.js";
import type { ChangeShares } from "./lib/change-book.js";
import { pickRooms, validateRoomModel, type RoomModel } from "./lib/rooms.js";
import { VirtualUser, type MetricSink, type Transport } from "./lib/virtual-user.js";

// Every step is an `async function`: Artillery tells a promise-returning step from a
// callback-style one by `fn.constructor.name`, so a plain function returning a promise would
// be handed a callback it never calls, and the scenario would hang.

/** What Artillery passes to a function step. */
interface ArtilleryContext {
  vars: Record<string, unknown>;
}

const runId = process.env.LOAD_RUN_ID || randomBytes(4).toString("hex");
const secret = process.env.CHAT_JWT_SECRET || DEV_JWT_SECRET;
/** When this worker started its scenarios: the storm's shared clock. */
const workerStartedAt = Date.now();
const roomPrefix = `load:${runId}:w${threadId}:`;
const ledger = new DeliveryLedger();
const users = new WeakMap<ArtilleryContext, VirtualUser>();
let userCount = 0;
let connectedUsers = 0;

export async function connect(context: ArtilleryContext, events: EventEmitter): Promise<void> {
  const settings = readSettings(context.vars);
  const metrics = sink(events);
  const clock = phaseClockOf(context.vars, settings);
  const arrivedAt = Date.now();
  const arrivalPhase = clock?.phaseAt(arrivedAt);
  userCount += 1;
  const userId = `lu-${runId}-${threadId}-${userCount}`;
  const token = await mintToken({ secret, userId, rooms: [`load:${runId}:*`], ttlInSeconds: 6 * 3600 });
  let cohort: Cohort = "incumbent";
  const user = new VirtualUser(
    {
      url: String(context.vars["target"]),
      token,
      userId,
      rooms: pickRooms(settings.model, roomPrefix),
      model: settings.model,
      transports: settings.transports,
      ackTimeoutInMs: settings.ackTimeoutInMs,
      ledger,
      changes: settings.changes,
      ackTag: clock ? (sentAt) => tagged.ack(clock.phaseAt(sentAt), cohort) : undefined,
    },
    metrics,
  );
  users.set(context, user);
  connectedUsers += 1;
  if (arrivalPhase) metrics.counter(tagged.arrived(arrivalPhase));
  await step(context, async () => {
    try {
      const admission = await user.connect(settings.admissionMaxWaitInMs);
      metrics.counter("chat.never_admitted", 0);
      if (!clock || !arrivalPhase) return;
      const admittedAt = Date.now();
      cohort = clock.cohortOf(admittedAt, settings.cohortSplitPhase!);
      metrics.counter(tagged.admitted(arrivalPhase));
      metrics.counter(tagged.refused(arrivalPhase), admission.refusals);
      metrics.histogram("chat.time_to_admitted", admittedAt - arrivedAt);
      metrics.histogram(tagged.timeToAdmitted(arrivalPhase), admittedAt - arrivedAt);
      metrics.histogram(tagged.admittedAtSecond(arrivalPhase), (admittedAt - clock.startOf(arrivalPhase)) / 1000);
      const arrivalPhaseEnd = clock.endOf(arrivalPhase);
      if (arrivalPhaseEnd !== undefined && admittedAt > arrivalPhaseEnd) {
        metrics.counter(tagged.admittedAfterEnd(arrivalPhase));
        metrics.histogram(tagged.admittedAfterEndSecond(arrivalPhase), (admittedAt - arrivalPhaseEnd) / 1000);
      }
    } catch (error) {
      if (error instanceof NeverAdmitted) {
        metrics.counter("chat.never_admitted");
        if (arrivalPhase) {
          metrics.counter(tagged.neverAdmitted(arrivalPhase));
          metrics.counter(tagged.refused(arrivalPhase), error.attempts);
        }
      }
      throw error;
    }
  });
}

export async function joinRooms(context: ArtilleryContext): Promise<void> {
  return step(context, (user) => user.joinRooms());
}

export async function sendMessage(context: ArtilleryContext): Promise<void> {
  return step(context, (user) => user.send());
}

/** Edits or deletes some of the user's own messages and reacts to others', at the suite's change shares. */
export async function changeMessages(context: ArtilleryContext): Promise<void> {
  return step(context, (user) => user.changeMessages());
}

export async function stormOutage(context: ArtilleryContext): Promise<void> {
  const { stormAtInMs, outageInMs, thinkInMs } = readSettings(context.vars);
  const reconnectAt = workerStartedAt + stormAtInMs;
  const dropAt = reconnectAt - Math.random() * outageInMs;
  return step(context, (user) => user.outageAndReconnect({ dropAt, reconnectAt, thinkInMs }));
}

export async function finish(context: ArtilleryContext): Promise<void> {
  const { deliveryGraceInMs } = readSettings(context.vars);
  await step(context, (user) => user.finish(deliveryGraceInMs));
  users.delete(context);
  connectedUsers -= 1;
  // The user's verdict (expected, lost) reaches Artillery before its scenario ends, so the last user's too.
  flushCounters();
}

/** Runs a step of the context's user; a failing step closes the user (its socket, its ledger entries) before Artillery counts it failed. */
async function step(context: ArtilleryContext, action: (user: VirtualUser) => Promise<void>): Promise<void> {
  const user = users.get(context);
  if (!user) throw new Error("no virtual user for this scenario: the flow must start with the `connect` function");
  try {
    await action(user);
  } catch (error) {
    user.close();
    users.delete(context);
    connectedUsers -= 1;
    flushCounters();
    throw error;
  }
}

interface Settings {
  model: RoomModel;
  changes: ChangeShares;
  transports: Transport[];
  ackTimeoutInMs: number;
  deliveryGraceInMs: number;
  thinkInMs: number;
  stormAtInMs: number;
  outageInMs: number;
  /** How long a refused user keeps retrying its handshake (0: not at all). */
  admissionMaxWaitInMs: number;
  /** Per-phase figures: users admitted before this phase began are its incumbents (undefined: no per-phase tags). */
  cohortSplitPhase: string | undefined;
}

let cachedSettings: Settings | undefined;

/** Reads and checks the suite's variables once per worker; a bad value stops the first user with a message naming it. */
function readSettings(vars: Record<string, unknown>): Settings {
  if (cachedSettings) return cachedSettings;
  const number = (key: string, fallback: number): number => {
    const value = vars[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      throw new Error(`config.variables.${key} must be a non-negative number, got ${JSON.stringify(value)}`);
    return value;
  };
  const share = (key: string): number => {
    const value = number(key, 0);
    if (value > 1) throw new Error(`config.variables.${key} must be between 0 and 1, got ${value}`);
    return value;
  };
  const transports = String(vars["transports"] ?? "websocket")
    .split(",")
    .map((t) => t.trim());
  for (const transport of transports) {
    if (transport !== "websocket" && transport !== "polling")
      throw new Error(`config.variables.transports: unknown transport "${transport}"`);
  }
  cachedSettings = {
    model: validateRoomModel({
      smallRooms: number("smallRooms", 50),
      smallRoomsPerUser: number("smallRoomsPerUser", 2),
      largeRooms: number("largeRooms", 2),
      largeRoomShare: number("largeRoomShare", 0.3),
      largeRoomSendShare: number("largeRoomSendShare", 0.1),
    }),
    changes: { editShare: share("editShare"), deleteShare: share("deleteShare"), reactShare: share("reactShare") },
    transports: transports as Transport[],
    ackTimeoutInMs: number("ackTimeoutMs", 10_000),
    deliveryGraceInMs: number("deliveryGraceMs", 5000),
    thinkInMs: number("thinkMs", 1000),
    stormAtInMs: number("stormAtSeconds", 50) * 1000,
    outageInMs: number("outageSeconds", 10) * 1000,
    admissionMaxWaitInMs: number("admissionMaxWaitSeconds", 0) * 1000,
    cohortSplitPhase: vars["cohortSplitPhase"] === undefined ? undefined : metricSafe(String(vars["cohortSplitPhase"])),
  };
  return cachedSettings;
}

let cachedClock: PhaseClock | undefined;

/**
 * The suite's phases on this worker's clock, read once from the suite file (Artillery gives a
 * step no phase): only for suites that ask for per-phase figures (`cohortSplitPhase`).
 */
function phaseClockOf(vars: Record<string, unknown>, settings: Settings): PhaseClock | undefined {
  if (settings.cohortSplitPhase === undefined) return undefined;
  if (cachedClock) return cachedClock;
  const file = String(vars["$scenarioFile"] ?? "");
  if (!file) throw new Error("cohortSplitPhase needs the suite file ($scenarioFile), which this Artillery did not provide");
  const clock = new PhaseClock(phasesOfSuite(readFileSync(file, "utf8"), file), workerStartedAt);
  clock.cohortOf(workerStartedAt, settings.cohortSplitPhase); // a split phase the suite does not have stops the first user, naming it
  for (const [index, at] of observedPhaseStarts) clock.started(index, at);
  for (const [index, at] of observedPhaseEnds) clock.completed(index, at);
  return (cachedClock = clock);
}

/**
 * When this worker's phaser really started and completed each phase. Artillery tells no step its phase; its
 * worker reports each start and end to the main thread (`{ event: "phaseStarted", phase: { index } }`
 * through parentPort.postMessage, artillery/lib/platform/local/worker.js), so the processor,
 * loaded before the phaser runs, looks at those messages on their way. With another Artillery
 * that reports otherwise, the planned times stay (and the README says how far they drift).
 */
const observedPhaseStarts = new Map<number, number>();
const observedPhaseEnds = new Map<number, number>();
if (parentPort) {
  const port = parentPort;
  const post = port.postMessage.bind(port);
  port.postMessage = (message: unknown, ...rest: unknown[]) => {
    const report = message as { event?: unknown; phase?: { index?: unknown } } | null;
    if (report?.event === "phaseStarted" && typeof report.phase?.index === "number") {
      observedPhaseStarts.set(report.phase.index, Date.now());
      cachedClock?.started(report.phase.index, Date.now());
    }
    if (report?.event === "phaseCompleted" && typeof report.phase?.index === "number") {
      observedPhaseEnds.set(report.phase.index, Date.now());
      cachedClock?.completed(report.phase.index, Date.now());
    }
    (post as (...args: unknown[]) => void)(message, ...rest);
  };
}

// The generator's own health: a saturated Artillery worker inflates every latency it measures,
// so its event-loop delay and connected users go into the report beside the server's.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let latestEvents: EventEmitter | undefined;

// Counters are summed here and handed to Artillery once a second (and at every user's end):
// `chat.messages_received` alone is one event per delivery, thousands a second, and each
// Artillery counter event costs a timestamped entry that its aggregation walks again.
const pendingCounters = new Map<string, number>();
function flushCounters(): void {
  if (!latestEvents) return;
  for (const [name, value] of pendingCounters) latestEvents.emit("counter", name, value);
  pendingCounters.clear();
}

// One shared timer for the whole worker (not one per user).
const HEALTH_EVERY_TICKS = 5;
let ticks = 0;
setInterval(() => {
  flushCounters();
  ticks += 1;
  if (!latestEvents || ticks % HEALTH_EVERY_TICKS !== 0) return;
  latestEvents.emit("histogram", "loadgen.event_loop_delay_p99", loopDelay.percentile(99) / 1e6);
  latestEvents.emit("histogram", "loadgen.event_loop_delay_max", loopDelay.max / 1e6);
  latestEvents.emit("histogram", "loadgen.connected_users", connectedUsers);
  loopDelay.reset();
}, 1000).unref();

function sink(events: EventEmitter): MetricSink {
  latestEvents = events;
  return {
    counter: (name, value = 1) => pendingCounters.set(name, (pendingCounters.get(name) ?? 0) + value),
    histogram: (name, valueInMs) => events.emit("histogram", name, valueInMs),
  };
}
