/**
 * The message changes a load generator makes (edits and reactions, docs/protocol.md "Messages
 * change"), and how it reads their acks: pure, so the bench can unit-test what counts as an
 * acknowledged change.
 */
import { isSeq } from "./deliveries.js";
import type { ChangeReceipt, ChangeTarget } from "./protocol.js";

/** The reactions the bench adds and removes: a few, so a user's reaction is added, removed and added again. */
export const BENCH_EMOJI = ["👍", "🎉", "🚀", "👀"] as const;

/** One change request: its event, payload, and the receipt it earns when acknowledged (without seq and ts). */
export interface ChangeRequest {
  event: "edit" | "react";
  payload: Record<string, unknown>;
  receipt: Omit<ChangeReceipt, "seq" | "ts">;
}

/** An edit's new text: its clientId (so each edit's text is its own), padded to `bytes`. */
export function editText(clientId: string, bytes: number): string {
  const head = `edit ${clientId}|`;
  return head + "e".repeat(Math.max(0, bytes - head.length));
}

/**
 * The n-th change of a generator: changes 2k and 2k + 1 go to target k (in turn), the first an
 * edit, the second a reaction; each pass over the targets reacts with the next emoji, and each
 * pass over the emoji removes (then adds again) what the previous one added, so every target is
 * edited and reactions both appear and go.
 */
export function nthChange(n: number, targets: readonly ChangeTarget[], by: string, clientId: string, textBytes: number): ChangeRequest {
  if (targets.length === 0) throw new Error("no change targets");
  const turn = Math.floor(n / 2);
  const target = targets[turn % targets.length]!;
  const common = { room: target.room, clientId, target: target.id, by };
  if (n % 2 === 0) {
    const text = editText(clientId, textBytes);
    return { event: "edit", payload: { room: target.room, id: target.id, clientId, text }, receipt: { ...common, kind: "edit", text } };
  }
  const pass = Math.floor(turn / targets.length);
  const emoji = BENCH_EMOJI[pass % BENCH_EMOJI.length]!;
  const on = Math.floor(pass / BENCH_EMOJI.length) % 2 === 0;
  return {
    event: "react",
    payload: { room: target.room, id: target.id, clientId, emoji, on },
    receipt: { ...common, kind: "react", emoji, on },
  };
}

/**
 * A change ack (`[{ ok: true, seq, ts, duplicate? }]`): the seq and ts, or a failure code: the
 * server's error code, DUPLICATE (a clientId never sent before cannot be a duplicate), BAD_ACK
 * (an `ok` ack without a usable seq and ts).
 */
export function parseChangeAck(reply: string): { seq: number; ts: number } | { failure: string } {
  let decoded: unknown;
  try {
    decoded = JSON.parse(reply);
  } catch {
    return { failure: "BAD_ACK" };
  }
  const ack = (Array.isArray(decoded) ? decoded[0] : undefined) as
    { ok?: unknown; seq?: unknown; ts?: unknown; duplicate?: unknown; error?: { code?: unknown } } | undefined;
  if (typeof ack !== "object" || ack === null) return { failure: "BAD_ACK" };
  if (ack.ok !== true) return { failure: typeof ack.error?.code === "string" ? ack.error.code : "UNKNOWN" };
  if (ack.duplicate === true) return { failure: "DUPLICATE" };
  if (!isSeq(ack.seq) || typeof ack.ts !== "number" || !Number.isFinite(ack.ts)) return { failure: "BAD_ACK" };
  return { seq: ack.seq, ts: ack.ts };
}
