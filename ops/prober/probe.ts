/**
 * A synthetic client measuring what no server-side metric can: how long a message takes from a
 * client's `send` to its delivery to another client subscribed to the room, through the gateway,
 * the Redis append and the fan-out between nodes. One probe at a time; a probe not delivered
 * within its deadline counts as a failure (and as a delivery at the deadline).
 */
import type { Counter, Histogram } from "prom-client";
import { io as connect, type Socket } from "socket.io-client";
import type { Logger } from "../../common/logger.js";

export interface ProbeOptions {
  /** The gateway's base URL. */
  url: string;
  /** A JWT allowing `room`, asked for at every (re)connection so a long-lived prober never presents an expired one. */
  token: () => Promise<string>;
  room: string;
  deadlineInMs: number;
}

export interface ProbeMetrics {
  deliverySeconds: Histogram;
  failures: Counter<"stage">;
}

interface DeliveredMessage {
  room?: string;
  clientId?: string;
}

export class DeliveryProbe {
  private sender?: Socket;
  private receiver?: Socket;
  private sequence = 0;
  private readonly waiting = new Map<string, () => void>();

  constructor(
    private readonly options: ProbeOptions,
    private readonly metrics: ProbeMetrics,
    private readonly logger: Logger,
  ) {}

  /** Connects the two clients (they reconnect by themselves) and subscribes the receiver to the room. */
  async start(): Promise<void> {
    const auth = (callback: (data: object) => void) => void this.options.token().then((token) => callback({ token }));
    const open = () => connect(this.options.url, { auth, transports: ["websocket"], forceNew: true });
    this.sender = open();
    this.receiver = open();
    this.receiver.on("connect", () => void this.join());
    this.receiver.on("message", (message: DeliveredMessage) => {
      if (message?.room === this.options.room && typeof message.clientId === "string") this.waiting.get(message.clientId)?.();
    });
    for (const socket of [this.sender, this.receiver])
      socket.on("connect_error", (error: Error) => this.logger.warn({ err: error }, "probe client cannot connect"));
  }

  private async join(): Promise<void> {
    try {
      const ack = (await this.receiver!.timeout(this.options.deadlineInMs).emitWithAck("join", { room: this.options.room })) as {
        ok: boolean;
      };
      if (!ack.ok) throw new Error(`join refused: ${JSON.stringify(ack)}`);
    } catch (error) {
      this.metrics.failures.inc({ stage: "join" });
      this.logger.warn({ err: error, room: this.options.room }, "probe receiver could not join");
    }
  }

  /** Sends one message and records its delivery time, or a failure with the stage that failed. */
  async probeOnce(): Promise<void> {
    if (!this.sender?.connected || !this.receiver?.connected) {
      this.metrics.failures.inc({ stage: "connect" });
      return;
    }
    const clientId = `probe-${process.pid}-${++this.sequence}`;
    const started = performance.now();
    const delivered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.options.deadlineInMs);
      this.waiting.set(clientId, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    try {
      const ack = (await this.sender
        .timeout(this.options.deadlineInMs)
        .emitWithAck("send", { room: this.options.room, clientId, text: "probe" })) as { ok: boolean; error?: { code?: string } };
      if (!ack.ok) {
        this.metrics.failures.inc({ stage: "send" });
        this.logger.warn({ code: ack.error?.code, room: this.options.room }, "probe send refused");
        return;
      }
      if (await delivered) this.metrics.deliverySeconds.observe((performance.now() - started) / 1000);
      else {
        this.metrics.failures.inc({ stage: "delivery" });
        // Past the deadline: counted at the deadline, slower than the SLO's threshold, so the SLO sees it.
        this.metrics.deliverySeconds.observe(this.options.deadlineInMs / 1000);
      }
    } catch (error) {
      this.metrics.failures.inc({ stage: "send" });
      this.logger.warn({ err: error, room: this.options.room }, "probe send failed");
    } finally {
      this.waiting.delete(clientId);
    }
  }

  stop(): void {
    this.sender?.disconnect();
    this.receiver?.disconnect();
  }
}
