/** The bench's side of the load generators: forks them and talks to them over IPC. */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DeliveryTally, GeneratorAnswer, GeneratorCommand, SendPlan, SendResult, WireKind } from "./protocol.js";

const GENERATOR_SCRIPT = fileURLToPath(new URL("./generator.js", import.meta.url));

export class Generator {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (answer: GeneratorAnswer) => void; reject: (error: Error) => void }>();

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (message: { id: number; answer?: GeneratorAnswer; error?: string }) => {
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(`${name}: ${message.error}`));
      else if (message.answer) waiter?.resolve(message.answer);
    });
    child.on("error", (error) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`${name}: ${error.message}`));
      this.waiting.clear();
    });
    child.on("exit", (code) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`${name} exited (${code})`));
      this.waiting.clear();
    });
  }

  static start(name: string): Generator {
    // Inherits the bench's raised file-descriptor limit; stdout/stderr go to the bench's.
    return new Generator(name, fork(GENERATOR_SCRIPT, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  command<T extends GeneratorAnswer["type"]>(command: GeneratorCommand): Promise<Extract<GeneratorAnswer, { type: T }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (answer: GeneratorAnswer) => void, reject });
      this.child.send({ id, command });
    });
  }

  /** Opens `count` clients; fails unless every one connected. Returns the index of the first. */
  async connect(
    kind: WireKind,
    url: string,
    count: number,
    options: { token?: string; localAddresses?: string[]; concurrency?: number } = {},
  ): Promise<number> {
    const answer = await this.command<"connected">({
      type: "connect",
      kind,
      url,
      count,
      token: options.token,
      localAddresses: options.localAddresses ?? ["127.0.0.1"],
      concurrency: options.concurrency ?? 64,
    });
    if (answer.failed > 0)
      throw new Error(`${this.name}: ${answer.failed} of ${count} clients failed to connect to ${url}: ${answer.firstError}`);
    return answer.first;
  }

  async join(from: number, to: number, room: string): Promise<void> {
    await this.command<"done">({ type: "join", from, to, room });
  }

  /** What its clients received since the last reset (see deliveries.ts). */
  async tally(): Promise<DeliveryTally> {
    return (await this.command<"count">({ type: "count" })).tally;
  }

  /** Starts a counting window in which `rooms` are sent to. */
  async reset(rooms: readonly string[]): Promise<void> {
    await this.command<"done">({ type: "reset", rooms: [...rooms] });
  }

  async record(on: boolean): Promise<void> {
    await this.command<"done">({ type: "record", on });
  }

  async collect(): Promise<number[]> {
    return (await this.command<"collected">({ type: "collect" })).latenciesInMs;
  }

  async send(plan: SendPlan): Promise<SendResult> {
    return (await this.command<"sent">({ type: "send", plan })).result;
  }

  async close(): Promise<void> {
    await this.command<"done">({ type: "close" });
  }

  stop(): void {
    this.child.kill("SIGTERM");
  }
}

/** The generators' tallies summed. */
export async function totalTally(generators: readonly Generator[]): Promise<DeliveryTally> {
  const tallies = await Promise.all(generators.map((generator) => generator.tally()));
  const sum: DeliveryTally = { counted: 0, duplicated: 0, misrouted: 0, malformed: 0, otherEvents: 0, open: 0, clients: 0 };
  for (const tally of tallies) for (const key of Object.keys(sum) as (keyof DeliveryTally)[]) sum[key] += tally[key];
  return sum;
}
