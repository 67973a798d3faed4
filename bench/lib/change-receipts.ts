/**
 * Every acknowledged change kept once: a changes/s figure stands only when each `ok` change ack
 * names a (room, seq) no other acknowledged send or change got, its entry is in the room's stored
 * log (room_log) with its kind and clientId, no change entry of those partitions is one nobody
 * was acknowledged for, and the read model shows the final state the acknowledged changes make:
 * each edited message's text is its last edit's (messages_by_room), each message's reactions are
 * exactly the (emoji, user) pairs whose last react was `on` (reactions_by_message). A server that
 * acknowledged a change it then lost, or the flusher skipping the projection, would otherwise
 * report a rate for work it did not do.
 */
import type { CassandraClient } from "../../storage/cassandra/client.js";
import { bigintToNumber } from "../../storage/cassandra/values.js";
import { bucketOf } from "../../storage/message.js";
import type { ChangeReceipt, Receipt } from "../load/protocol.js";
import { CHECKS, FigureRefused } from "./integrity.js";

/** What Cassandra holds for the changed rooms and messages. */
export interface StoredChanges {
  /** Change entries of room_log (kind other than "message") in the read partitions: room → seq → kind and clientId. */
  log: Map<string, Map<number, { kind: string; clientId: string }>>;
  /** messages_by_room's text of each changed message, by messageKey (undefined: no row). */
  texts: Map<string, string | undefined>;
  /** reactions_by_message of each changed message, by messageKey: "emoji user" pairs. */
  reactions: Map<string, Set<string>>;
}

export interface ChangeReadBack {
  expected: number;
  /** Acknowledged changes found in room_log with their kind and clientId. */
  found: number;
  missing: number;
  /** A row at the acknowledged (room, seq) with another kind or clientId. */
  wrong: number;
  /** Change rows in the read partitions that no ack named. */
  unexpected: number;
  /** Edited messages whose stored text is not their last acknowledged edit's. */
  textsWrong: number;
  /** Reacted messages whose stored reactions differ from what the acknowledged reactions leave. */
  reactionsWrong: number;
  examples: string[];
}

export const messageKey = (room: string, id: string) => `${room}\u0000${id}`;
const reactionKey = (emoji: string, user: string) => `${emoji} ${user}`;

/** No (room, seq) in two acks, sends' and changes' together (one log, one seq space); no clientId twice; at least one change. */
export function requireDistinctChanges(where: string, changes: readonly ChangeReceipt[], sends: readonly Receipt[]): void {
  if (changes.length === 0) throw new FigureRefused(CHECKS.changesStored, where, "no acknowledged change to check");
  const seqs = new Set<string>(sends.map((send) => `${send.room}/${send.seq}`));
  const clientIds = new Set<string>();
  let seqTwice = 0;
  let clientIdTwice = 0;
  const examples: string[] = [];
  for (const change of changes) {
    const key = `${change.room}/${change.seq}`;
    if (seqs.has(key)) {
      seqTwice++;
      if (examples.length < 5) examples.push(key);
    }
    seqs.add(key);
    if (clientIds.has(change.clientId)) clientIdTwice++;
    clientIds.add(change.clientId);
  }
  if (seqTwice > 0 || clientIdTwice > 0)
    throw new FigureRefused(
      CHECKS.changesStored,
      where,
      `${changes.length} change acks: ${seqTwice} gave a (room, seq) already acknowledged, ${clientIdTwice} a clientId already acknowledged${examples.length > 0 ? `; e.g. ${examples.join(", ")}` : ""}`,
    );
}

/** The read model the acknowledged changes leave, applied in seq order: last edit's text; reactions whose last react was `on`. */
export function finalState(changes: readonly ChangeReceipt[]): { texts: Map<string, string>; reactions: Map<string, Set<string>> } {
  const texts = new Map<string, string>();
  const reactions = new Map<string, Set<string>>();
  for (const change of [...changes].sort((a, b) => a.seq - b.seq)) {
    const key = messageKey(change.room, change.target);
    if (change.kind === "edit") texts.set(key, change.text ?? "");
    else {
      const set = reactions.get(key) ?? new Set<string>();
      reactions.set(key, set);
      const pair = reactionKey(change.emoji ?? "", change.by);
      if (change.on) set.add(pair);
      else set.delete(pair);
    }
  }
  return { texts, reactions };
}

/** Compares what Cassandra holds with what the acknowledged changes say it must. */
export function compareChanges(changes: readonly ChangeReceipt[], stored: StoredChanges): ChangeReadBack {
  const result: ChangeReadBack = {
    expected: changes.length,
    found: 0,
    missing: 0,
    wrong: 0,
    unexpected: 0,
    textsWrong: 0,
    reactionsWrong: 0,
    examples: [],
  };
  const example = (text: string) => {
    if (result.examples.length < 5) result.examples.push(text);
  };
  const acked = new Map<string, Set<number>>();
  for (const change of changes) {
    acked.set(change.room, (acked.get(change.room) ?? new Set<number>()).add(change.seq));
    const row = stored.log.get(change.room)?.get(change.seq);
    if (row === undefined) {
      result.missing++;
      example(`${change.room}/${change.seq} not in room_log`);
    } else if (row.kind !== change.kind || row.clientId !== change.clientId) {
      result.wrong++;
      example(`${change.room}/${change.seq} holds a ${row.kind} of clientId ${row.clientId === change.clientId ? "its own" : "another"}`);
    } else result.found++;
  }
  for (const [room, rows] of stored.log) for (const seq of rows.keys()) if (!acked.get(room)?.has(seq)) result.unexpected++;
  const expected = finalState(changes);
  for (const [key, text] of expected.texts) {
    if (stored.texts.get(key) !== text) {
      result.textsWrong++;
      example(`${key.replace("\u0000", "/")}: text is not its last edit's`);
    }
  }
  for (const [key, pairs] of expected.reactions) {
    const found = stored.reactions.get(key) ?? new Set<string>();
    if (found.size !== pairs.size || [...pairs].some((pair) => !found.has(pair))) {
      result.reactionsWrong++;
      example(`${key.replace("\u0000", "/")}: ${found.size} reactions stored, ${pairs.size} expected`);
    }
  }
  return result;
}

export function describeChangeReadBack(r: ChangeReadBack): string {
  return `${r.found} of ${r.expected} changes in room_log (${r.missing} missing, ${r.wrong} with another kind or clientId, ${r.unexpected} unexpected); ${r.textsWrong} edited messages with another text, ${r.reactionsWrong} with other reactions${r.examples.length > 0 ? `; e.g. ${r.examples.join(", ")}` : ""}`;
}

const complete = (r: ChangeReadBack) =>
  r.expected > 0 && r.found === r.expected && r.unexpected === 0 && r.textsWrong === 0 && r.reactionsWrong === 0;

/** Every acknowledged change in the log and the read model as they leave it, none unexpected, nothing dead-lettered. */
export function requireChangesStored(where: string, r: ChangeReadBack, deadLettered: number): void {
  if (deadLettered > 0)
    throw new FigureRefused(CHECKS.deadLetter, where, `${deadLettered} entries in the dead-letter stream; ${describeChangeReadBack(r)}`);
  if (!complete(r)) throw new FigureRefused(CHECKS.changesStored, where, describeChangeReadBack(r));
}

export interface ChangesStoredOptions {
  where: string;
  changes: readonly ChangeReceipt[];
  /** The acknowledged sends of the same rooms (the changed messages among them). */
  sends: readonly Receipt[];
  read: (changes: readonly ChangeReceipt[]) => Promise<StoredChanges>;
  deadLettered: () => Promise<number>;
  timeoutInMs: number;
  pollEveryInMs?: number;
}

/**
 * Distinct acks, then Cassandra read until every change is there and projected (the flusher
 * writes behind the acks) or `timeoutInMs` passed; refused unless all is as the acks say.
 */
export async function requireChangesStoredOnce(options: ChangesStoredOptions): Promise<ChangeReadBack> {
  const { where, changes, sends, read, deadLettered, timeoutInMs, pollEveryInMs = 500 } = options;
  requireDistinctChanges(where, changes, sends);
  const deadline = performance.now() + timeoutInMs;
  let result = compareChanges(changes, await read(changes));
  // A wrong or unexpected log row does not go away by waiting; missing rows and a lagging projection may still come.
  while (!complete(result) && result.wrong === 0 && result.unexpected === 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, pollEveryInMs));
    result = compareChanges(changes, await read(changes));
  }
  requireChangesStored(where, result, await deadLettered());
  return result;
}

const READ = { prepare: true, fetchSize: 5000 } as const;

/**
 * Reads the changes' room_log partitions (room, bucket of the change's ts), and the text and
 * reactions of every changed message; `sends` locates the changed messages' rows (their seq
 * and ts).
 */
export async function readStoredChanges(
  client: CassandraClient,
  changes: readonly ChangeReceipt[],
  sends: readonly Receipt[],
  bucketWidthInMs: number,
): Promise<StoredChanges> {
  const stored: StoredChanges = { log: new Map(), texts: new Map(), reactions: new Map() };
  const partitions = new Map<string, { room: string; bucket: number }>();
  const targets = new Map<string, { room: string; id: string }>();
  for (const change of changes) {
    const bucket = bucketOf(change.ts, bucketWidthInMs);
    partitions.set(`${change.room}\u0000${bucket}`, { room: change.room, bucket });
    targets.set(messageKey(change.room, change.target), { room: change.room, id: change.target });
  }
  for (const { room, bucket } of partitions.values()) {
    const rows = stored.log.get(room) ?? new Map<number, { kind: string; clientId: string }>();
    stored.log.set(room, rows);
    const result = await client.execute("SELECT seq, kind, client_id FROM room_log WHERE room = ? AND bucket = ?", [room, bucket], READ);
    for await (const row of result) {
      const kind = row["kind"] as string;
      if (kind !== "message") rows.set(bigintToNumber(row["seq"]), { kind, clientId: row["client_id"] as string });
    }
  }
  const sent = new Map(sends.map((send) => [messageKey(send.room, send.id), send]));
  for (const [key, { room, id }] of targets) {
    const message = sent.get(key);
    if (message) {
      const row = (
        await client.execute(
          "SELECT id, body FROM messages_by_room WHERE room = ? AND bucket = ? AND seq = ?",
          [room, bucketOf(message.ts, bucketWidthInMs), message.seq],
          READ,
        )
      ).first();
      stored.texts.set(key, row && row["id"] === id ? (row["body"] as string) : undefined);
    }
    const pairs = new Set<string>();
    const result = await client.execute(
      "SELECT emoji, user_id FROM reactions_by_message WHERE room = ? AND message_id = ?",
      [room, id],
      READ,
    );
    for await (const row of result) pairs.add(reactionKey(row["emoji"] as string, row["user_id"] as string));
    stored.reactions.set(key, pairs);
  }
  return stored;
}
