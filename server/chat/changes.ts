/**
 * edit, delete and react (docs/protocol.md v1.1 "Messages change"), independent of the transport.
 * The payload is validated here (commands.ts: shape, room permission, sizes); whether the target
 * exists, is not deleted, may be changed by this user, and has room for another emoji is
 * decided by the log atomically with the change's seq (storage/stream/change-script.ts), so a
 * race between two changes cannot be decided differently from their order in the log.
 */
import type { ChangeKind, NewChange } from "../../storage/change.js";
import { decodeMessageId } from "../../storage/change.js";
import { traceFields } from "../../common/trace-id.js";
import { CommandValidator } from "./commands.js";
import { ChatError } from "./errors.js";
import type { Limits } from "./limits.js";
import { mayModerate } from "./names.js";
import type { ChangeLog, ChangePublisher, ChatLogger } from "./ports.js";
import type { Principal } from "./principal.js";
import type { PriorReceipts } from "./receipts.js";

export interface ChangeResult {
  seq: number;
  ts: number;
  duplicate?: true;
}

export interface ChangeMetrics {
  /** Changes acknowledged as stored, by kind (duplicates excluded). */
  changesIn: { inc(labels: { kind: ChangeKind }): void };
}

export interface MessageChangesDeps {
  log: ChangeLog;
  /** First acks older than Redis's receipt window (receipts.ts). */
  receipts: PriorReceipts;
  publisher: ChangePublisher;
  limits: Limits;
  logger: ChatLogger;
  metrics?: ChangeMetrics;
}

/** A message holds at most this many distinct emoji (docs/protocol.md v1.1). */
export const MAX_EMOJI_PER_MESSAGE = 50;
const BUFFER_FULL_RETRY_AFTER_MS = 2000;
const STORAGE_RETRY_AFTER_MS = 1000;

export class MessageChanges {
  private readonly validate: CommandValidator;

  constructor(private readonly deps: MessageChangesDeps) {
    this.validate = new CommandValidator(deps.limits);
  }

  /** `traceId` (all three): the client action's correlation id (common/trace-id.ts), for the log lines about it. */
  async edit(principal: Principal, input: unknown, traceId?: string): Promise<ChangeResult> {
    const { room, id, clientId, text } = this.validate.edit(principal, input);
    return this.apply(principal, { room, by: principal.userId, clientId, kind: "edit", target: id, text }, traceId);
  }

  async delete(principal: Principal, input: unknown, traceId?: string): Promise<ChangeResult> {
    const { room, id, clientId } = this.validate.delete(principal, input);
    return this.apply(principal, { room, by: principal.userId, clientId, kind: "delete", target: id }, traceId);
  }

  async react(principal: Principal, input: unknown, traceId?: string): Promise<ChangeResult> {
    const { room, id, clientId, emoji, on } = this.validate.react(principal, input);
    return this.apply(principal, { room, by: principal.userId, clientId, kind: "react", target: id, emoji, on }, traceId);
  }

  private async apply(principal: Principal, change: Omit<NewChange, "targetSeq">, traceId: string | undefined): Promise<ChangeResult> {
    // The id carries the message's seq: an id that is not one of ours names no message.
    const decoded = decodeMessageId(change.target);
    if (!decoded) throw new ChatError("NOT_FOUND", `no message ${JSON.stringify(change.target)} in room ${change.room}`);
    // Only for a clientId whose first ack Redis may have let go: a recent UUIDv7 skips this.
    const stored = await this.deps.receipts.ofChange(change.by, change.room, change.clientId);
    if (stored) return { ...stored, duplicate: true };
    const request = {
      change: { ...change, targetSeq: decoded.seq },
      mayModerate: mayModerate(principal.modPatterns ?? [], change.room),
      ...(traceId === undefined ? {} : { traceId }),
    };
    const outcome = await this.fromStorage(() => this.deps.log.append(request), traceId);
    switch (outcome.kind) {
      case "stored":
        this.deps.metrics?.changesIn.inc({ kind: outcome.change.kind });
        this.deps.publisher.change(outcome.change);
        return { seq: outcome.change.seq, ts: outcome.change.ts };
      case "duplicate":
        return { ...outcome.receipt, duplicate: true };
      case "rate_limited":
        throw new ChatError("RATE_LIMITED", "too many messages, slow down", outcome.retryAfterMs);
      case "buffer_full":
        throw new ChatError("UNAVAILABLE", "the write buffer is full, retry later", BUFFER_FULL_RETRY_AFTER_MS);
      case "not_found":
        throw new ChatError("NOT_FOUND", `no message ${change.target} in room ${change.room}, or it was deleted`);
      case "forbidden":
        throw new ChatError(
          "FORBIDDEN",
          change.kind === "edit" ? "only the author may edit a message" : "only the author or a moderator of the room may delete a message",
        );
      case "too_many_emoji":
        throw new ChatError("TOO_LARGE", `a message holds at most ${MAX_EMOJI_PER_MESSAGE} distinct emoji`);
    }
  }

  /** Turns a failure of Redis or Cassandra into UNAVAILABLE: the client may retry with the same clientId. */
  private async fromStorage<T>(call: () => Promise<T>, traceId: string | undefined): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ChatError) throw error;
      this.deps.logger.warn({ err: error, what: "change", ...traceFields(traceId) }, "storage call failed");
      throw new ChatError("UNAVAILABLE", "storage is unavailable, retry later", STORAGE_RETRY_AFTER_MS);
    }
  }
}
