/**
 * What a load generator counts as a delivery, kept apart from the sockets so it can be tested
 * alone. A broken server must not lower a per-delivery cost: a message counts once per
 * (client, room, seq), only for a room the client joined and the current window sends to;
 * a repeat, a seq from before the window, a room the client never joined or a frame without a
 * room and seq are tallied apart, and the bench refuses a window that has any of them.
 */
import type { DeliveryTally, Receipt } from "./protocol.js";

/** One client's seqs of one joined room. */
interface RoomSeqs {
  /** The window these seqs belong to; a new window moves `highest` to `floor` and starts empty. */
  window: number;
  /** Highest seq received before this window: the window's sends all come after, so ≤ floor is a repeat. */
  floor: number;
  highest: number;
  seen: Set<number>;
}

/** The rooms one client joined, with what it received of each. */
export type Memberships = Map<string, RoomSeqs>;

export function newMemberships(): Memberships {
  return new Map();
}

export class DeliveryCounter {
  private window = 0;
  private windowRooms = new Set<string>();
  private counted = 0;
  private duplicated = 0;
  private misrouted = 0;
  private malformedFrames = 0;
  private otherEvents = 0;

  /** A confirmed join. Seqs already seen stay: rejoining does not make a repeat new. */
  joined(memberships: Memberships, room: string): void {
    if (!memberships.has(room)) memberships.set(room, { window: this.window, floor: 0, highest: 0, seen: new Set() });
  }

  /** Zeroes the tally; until the next call, only deliveries of `rooms` are expected. */
  startWindow(rooms: Iterable<string>): void {
    this.window++;
    this.windowRooms = new Set(rooms);
    this.counted = this.duplicated = this.misrouted = this.malformedFrames = this.otherEvents = 0;
  }

  /** A message of `room` with `seq` reached a client; true when it counts as a delivery. */
  deliver(memberships: Memberships, room: string, seq: number): boolean {
    const seqs = memberships.get(room);
    if (!seqs || !this.windowRooms.has(room)) {
      this.misrouted++;
      return false;
    }
    if (seqs.window !== this.window) {
      seqs.window = this.window;
      seqs.floor = seqs.highest;
      seqs.seen.clear();
    }
    if (seq <= seqs.floor || seqs.seen.has(seq)) {
      this.duplicated++;
      return false;
    }
    seqs.seen.add(seq);
    if (seq > seqs.highest) seqs.highest = seq;
    this.counted++;
    return true;
  }

  malformed(): void {
    this.malformedFrames++;
  }

  otherEvent(): void {
    this.otherEvents++;
  }

  tally(open: number, clients: number): DeliveryTally {
    return {
      counted: this.counted,
      duplicated: this.duplicated,
      misrouted: this.misrouted,
      malformed: this.malformedFrames,
      otherEvents: this.otherEvents,
      open,
      clients,
    };
  }
}

export type ParsedEvent = { kind: "message"; room: string; seq: number; text: string } | { kind: "other" } | { kind: "malformed" };

export function isSeq(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
}

/** A socket.io event frame's packet, after its "42": `["message", { room, seq, text, … }]` or another event. */
export function parseSocketIoEvent(packet: string): ParsedEvent {
  let decoded: unknown;
  try {
    decoded = JSON.parse(packet);
  } catch {
    return { kind: "malformed" };
  }
  if (!Array.isArray(decoded) || typeof decoded[0] !== "string") return { kind: "malformed" };
  if (decoded[0] !== "message") return { kind: "other" };
  const message = decoded[1] as { room?: unknown; seq?: unknown; text?: unknown } | null;
  if (typeof message !== "object" || message === null || typeof message.room !== "string" || !isSeq(message.seq))
    return { kind: "malformed" };
  return { kind: "message", room: message.room, seq: message.seq, text: typeof message.text === "string" ? message.text : "" };
}

/**
 * A centrifuge-js `publication` event: its channel is the room and its stream offset the seq
 * (history is on for the bench namespace, so a publication without an offset is unreadable).
 */
export function parseCentrifugoPublication(publication: { channel: string; offset?: number; data?: unknown }): ParsedEvent {
  if (typeof publication.channel !== "string" || publication.channel === "" || !isSeq(publication.offset)) return { kind: "malformed" };
  const data = publication.data as { text?: unknown } | null | undefined;
  return { kind: "message", room: publication.channel, seq: publication.offset, text: typeof data?.text === "string" ? data.text : "" };
}

/** The raw uWS reference's delivery frame: "m<room>|<seq>|<text>". */
export function parseUwsMessage(frame: string): ParsedEvent {
  const roomEnd = frame.indexOf("|", 1);
  const seqEnd = roomEnd < 0 ? -1 : frame.indexOf("|", roomEnd + 1);
  if (frame[0] !== "m" || roomEnd < 2 || seqEnd < 0) return { kind: "malformed" };
  const seq = Number(frame.slice(roomEnd + 1, seqEnd));
  if (!isSeq(seq)) return { kind: "malformed" };
  return { kind: "message", room: frame.slice(1, roomEnd), seq, text: frame.slice(seqEnd + 1) };
}

/**
 * A socket.io `send` ack's JSON array, `[{ ok: true, id, seq, ts, duplicate? }]`, as the receipt of
 * the message stored for `room`; null when it does not say which message was stored (the bench
 * then counts the send as failed: it cannot check that the message was kept).
 */
export function parseSendAck(room: string, reply: string): Receipt | null {
  let decoded: unknown;
  try {
    decoded = JSON.parse(reply);
  } catch {
    return null;
  }
  const ack = (Array.isArray(decoded) ? decoded[0] : undefined) as { ok?: unknown; id?: unknown; seq?: unknown; ts?: unknown } | undefined;
  if (typeof ack !== "object" || ack === null || ack.ok !== true) return null;
  if (typeof ack.id !== "string" || ack.id === "" || !isSeq(ack.seq) || typeof ack.ts !== "number" || !Number.isFinite(ack.ts)) return null;
  return { room, seq: ack.seq, id: ack.id, ts: ack.ts };
}
