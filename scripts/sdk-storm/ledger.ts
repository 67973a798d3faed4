/**
 * The acknowledged sends of a storm run, per room, and the checks of one client's room state
 * against them: every acknowledged message there once (nothing lost, no duplicate), in seq
 * order without a gap, and the `message` events the client emitted saying the same.
 */
import type { Message } from "../../client/protocol.js";

export interface AckedSend {
  room: string;
  seq: number;
  id: string;
  clientId: string;
  at: number;
}

export interface RoomCheck {
  /** Acknowledged seqs (up to the room's last) missing from the client's room model. */
  lost: number;
  /** Seqs held (or emitted) more than once. */
  duplicates: number;
  /** Holes between consecutive seqs in the model or in the emitted events. */
  gaps: number;
  /** Problems in words, for the report (at most a few per room). */
  problems: string[];
}

export class AckLedger {
  private readonly rooms = new Map<string, Map<number, AckedSend>>();
  /** The same clientId acknowledged twice with different seqs: the idempotency promise broken. */
  readonly conflicts: string[] = [];

  record(send: AckedSend): void {
    let room = this.rooms.get(send.room);
    if (!room) this.rooms.set(send.room, (room = new Map()));
    const known = room.get(send.seq);
    if (known && (known.id !== send.id || known.clientId !== send.clientId)) {
      this.conflicts.push(`${send.room} seq ${send.seq}: acknowledged as ${known.id} and as ${send.id}`);
    }
    if (!known) room.set(send.seq, send);
  }

  /** The highest seq of `room` acknowledged at or before `at` (0 when none). */
  lastAckedBy(room: string, at: number): number {
    let last = 0;
    for (const send of this.rooms.get(room)?.values() ?? []) if (send.at <= at && send.seq > last) last = send.seq;
    return last;
  }

  lastSeq(room: string): number {
    return Math.max(0, ...(this.rooms.get(room)?.keys() ?? []));
  }

  get size(): number {
    let size = 0;
    for (const room of this.rooms.values()) size += room.size;
    return size;
  }

  /** Seqs 1..last of a room that no ack named (a message stored that nobody was told about). */
  unacknowledged(room: string): number[] {
    const sends = this.rooms.get(room);
    const missing: number[] = [];
    for (let seq = 1; seq <= this.lastSeq(room); seq += 1) if (!sends?.has(seq)) missing.push(seq);
    return missing;
  }

  /**
   * One client's room against the acknowledged sends. `held`: its room model; `emitted`: the seqs
   * of the `message` events it emitted for the room, in order. The client joined before the first
   * send, so it must hold seqs 1..last, each with the id its ack named.
   */
  check(room: string, held: readonly Message[], emitted: readonly number[]): RoomCheck {
    const result: RoomCheck = { lost: 0, duplicates: 0, gaps: 0, problems: [] };
    const note = (problem: string) => result.problems.length < 3 && result.problems.push(`${room}: ${problem}`);
    const sends = this.rooms.get(room) ?? new Map<number, AckedSend>();
    const heldBySeq = new Map<number, Message>();
    for (const message of held) {
      if (heldBySeq.has(message.seq)) {
        result.duplicates += 1;
        note(`seq ${message.seq} held twice`);
      }
      heldBySeq.set(message.seq, message);
    }
    const ids = new Set(held.map((message) => message.id));
    if (ids.size < held.length) {
      result.duplicates += held.length - ids.size - Math.max(0, held.length - heldBySeq.size);
      note(`${held.length - ids.size} message ids held twice`);
    }
    for (const [seq, send] of sends) {
      const message = heldBySeq.get(seq);
      if (!message) {
        result.lost += 1;
        note(`acknowledged seq ${seq} (${send.id}) not held`);
      } else if (message.id !== send.id) {
        result.lost += 1;
        note(`seq ${seq} holds ${message.id}, acknowledged as ${send.id}`);
      }
    }
    result.gaps += countGaps(held.map((message) => message.seq));
    if (held.length > 0 && held[0]!.seq !== 1) {
      result.gaps += 1;
      note(`the model starts at seq ${held[0]!.seq}, not 1`);
    }
    const emittedGaps = countGaps(emitted);
    const emittedDuplicates = emitted.length - new Set(emitted).size;
    result.gaps += emittedGaps;
    result.duplicates += emittedDuplicates;
    if (emittedGaps || emittedDuplicates) note(`the message events had ${emittedGaps} gaps and ${emittedDuplicates} repeats`);
    return result;
  }
}

/** Places where a sequence does not step by exactly +1 (a repeat or a step back counts too). */
function countGaps(seqs: readonly number[]): number {
  let gaps = 0;
  for (let i = 1; i < seqs.length; i += 1) if (seqs[i] !== seqs[i - 1]! + 1) gaps += 1;
  return gaps;
}
