/**
 * send: validate, append to the durable write buffer, acknowledge, fan out.
 * The ack says ok only after the append script returned, i.e. once the message is in a Redis
 * stream; fan-out follows, and a client that misses it recovers with `join { since }`.
 */
import type { Server } from "socket.io";
import type { Logger } from "../../../common/logger.js";
import type { MessageBuffer } from "../../../storage/stream/producer.js";
import type { Limits } from "../../config.js";
import { ChatError } from "../../errors.js";
import type { NodeMetrics } from "../../metrics.js";
import { fromStorage, type EventDefinition } from "../dispatch.js";
import { sendPayload, type SendPayload } from "../schemas.js";
import { assertMayUseRoom } from "./rooms.js";

/** What a client is told to wait when the buffer is full (Cassandra down for a while). */
const BUFFER_FULL_RETRY_AFTER_MS = 2000;

export function sendEvent(io: Server, buffer: MessageBuffer, limits: Limits, metrics: NodeMetrics, logger: Logger): EventDefinition<SendPayload> {
  return {
    name: "send",
    schema: sendPayload,
    async handle({ room, clientId, text, meta }, context) {
      const started = process.hrtime.bigint();
      assertMayUseRoom(context, room);
      checkLimits(limits, clientId, text, meta);
      const outcome = await fromStorage(logger, "append", () => buffer.append({ room, from: context.principal.userId, clientId, text, meta }));
      switch (outcome.kind) {
        case "duplicate":
          return { ...outcome.receipt, duplicate: true };
        case "buffer_full":
          throw new ChatError("UNAVAILABLE", "the write buffer is full, retry later", BUFFER_FULL_RETRY_AFTER_MS);
        case "stored": {
          const { message } = outcome;
          metrics.messagesIn.inc();
          metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
          // Emitting before returning keeps the fan-out off the ack's critical path no more than
          // a function call: socket.io publishes asynchronously.
          io.to(room).emit("message", message);
          metrics.messagesOut.inc();
          return { id: message.id, seq: message.seq, ts: message.ts };
        }
      }
    },
  };
}

function checkLimits(limits: Limits, clientId: string, text: string, meta: Record<string, unknown> | undefined): void {
  if (clientId.length > limits.maxClientIdChars) throw new ChatError("BAD_REQUEST", `clientId must be at most ${limits.maxClientIdChars} characters`);
  if (text.length > limits.maxTextChars) throw new ChatError("TOO_LARGE", `text must be at most ${limits.maxTextChars} characters`);
  if (meta !== undefined && Buffer.byteLength(JSON.stringify(meta)) > limits.maxMetaBytes) {
    throw new ChatError("TOO_LARGE", `meta must be at most ${limits.maxMetaBytes} bytes as JSON`);
  }
}
