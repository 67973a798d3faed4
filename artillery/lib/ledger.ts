/**
 * The delivery ledger: which messages a room's members must have received.
 *
 * docs/protocol.md: a message acknowledged `ok` is never lost, and `message` goes to every socket
 * that joined the room; so does a change (`edit`, `delete`, `react`), as a `change` event with a
 * seq of the same log. So a member must receive every acknowledged seq above the seq its
 * join returned (the server joins the socket before it reads the latest seq, so anything
 * appended later is fanned out to it), at least for messages acknowledged long enough before
 * it checks that fan-out had time to arrive (the grace).
 *
 * The ledger lives in one worker thread; the rooms a worker's virtual users use are named
 * after the thread (see rooms.ts), so every sender and every receiver of a room is here and
 * the ledger of the room is complete.
 */
export interface Membership {
  readonly memberId: string;
  readonly room: string;
  /** The room's latest seq when the join was acknowledged. */
  readonly joinSeq: number;
}

interface RoomLedger {
  /** seq → time the send or change was acknowledged (ms since the epoch). */
  acked: Map<number, number>;
  /** The acked seqs that are changes (edit, delete, react): the room's log numbers both (docs/protocol.md v1.1). */
  changes: Set<number>;
  /** memberId → joinSeq. */
  members: Map<string, number>;
  /** Every acked seq up to this one has been forgotten (no member needs it). */
  prunedUpTo: number;
}

export class DeliveryLedger {
  private readonly rooms = new Map<string, RoomLedger>();

  join({ memberId, room, joinSeq }: Membership): void {
    this.room(room).members.set(memberId, joinSeq);
  }

  /** Forgets the member and every seq no remaining member needs. */
  leave(memberId: string, room: string): void {
    const ledger = this.rooms.get(room);
    if (!ledger) return;
    ledger.members.delete(memberId);
    if (ledger.members.size === 0) {
      this.rooms.delete(room);
      return;
    }
    // Pruning walks every acked seq of the room: only worth it when the oldest join moved up.
    let oldestNeeded = Infinity;
    for (const joinSeq of ledger.members.values()) if (joinSeq < oldestNeeded) oldestNeeded = joinSeq;
    if (oldestNeeded <= ledger.prunedUpTo) return;
    ledger.prunedUpTo = oldestNeeded;
    for (const seq of ledger.acked.keys()) {
      if (seq > oldestNeeded) continue;
      ledger.acked.delete(seq);
      ledger.changes.delete(seq);
    }
  }

  /**
   * Records an `ok` ack of a send or (`change`) of an edit, delete or react: every member gets
   * the `message` or `change` event of the seq. Acks for rooms nobody here has joined need no tracking.
   */
  acknowledged(room: string, seq: number, ackedAt: number, change = false): void {
    const ledger = this.rooms.get(room);
    if (!ledger || ledger.members.size === 0) return;
    ledger.acked.set(seq, ackedAt);
    if (change) ledger.changes.add(seq);
  }

  /** Whether an acked seq of the room is a change rather than a message. */
  isChange(room: string, seq: number): boolean {
    return this.rooms.get(room)?.changes.has(seq) ?? false;
  }

  /**
   * The acknowledged seqs a member must have received by now: above its join seq and
   * acknowledged at or before `ackedBy`. Ascending.
   */
  expected(memberId: string, room: string, ackedBy: number): number[] {
    const ledger = this.rooms.get(room);
    const joinSeq = ledger?.members.get(memberId);
    if (!ledger || joinSeq === undefined) return [];
    const seqs: number[] = [];
    for (const [seq, ackedAt] of ledger.acked) if (seq > joinSeq && ackedAt <= ackedBy) seqs.push(seq);
    return seqs.sort((a, b) => a - b);
  }

  /** Rooms with at least one member, for tests and the generator's own health. */
  get trackedRooms(): number {
    return this.rooms.size;
  }

  private room(room: string): RoomLedger {
    let ledger = this.rooms.get(room);
    if (!ledger) {
      ledger = { acked: new Map(), changes: new Set(), members: new Map(), prunedUpTo: -Infinity };
      this.rooms.set(room, ledger);
    }
    return ledger;
  }
}

/** What a receiver got of what it must have got. */
export interface DeliveryAudit {
  expected: number;
  lost: number[];
}

export function auditDelivery(expected: readonly number[], received: ReadonlySet<number>): DeliveryAudit {
  return { expected: expected.length, lost: expected.filter((seq) => !received.has(seq)) };
}
