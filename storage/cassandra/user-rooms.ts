/**
 * Each user's rooms with their read pointers, in partitions keyed by user id (user_rooms from
 * migration 1): the rooms list with unread counts is one partition read.
 */
import type { CassandraClient } from "./client.js";
import { bigintToNumber } from "./values.js";

const Q = {
  remember: `INSERT INTO user_rooms (user_id, room, joined_at) VALUES (?, ?, ?)`,
  setRead: `UPDATE user_rooms SET read_seq = ? WHERE user_id = ? AND room = ?`,
  readOf: `SELECT read_seq FROM user_rooms WHERE user_id = ? AND room = ?`,
  ofUser: `SELECT room, read_seq, joined_at FROM user_rooms WHERE user_id = ? LIMIT ?`,
} as const;

export interface UserRoom {
  room: string;
  readSeq: number;
  /** When the room was last recorded for the user (joined_at: written by each remember), ms; 0 if never. */
  activeAt: number;
}

export class UserRooms {
  constructor(private readonly client: CassandraClient) {}

  /** Records that the user uses the room (join or send); leaves the read pointer as it is. */
  async remember(userId: string, room: string): Promise<void> {
    await this.client.execute(Q.remember, [userId, room, new Date()]);
  }

  /**
   * Moves the read pointer forward, never back: a late "read 5" after "read 9" from another
   * device must not resurrect unread messages. Read-then-write is not atomic, but both writers
   * only move forward, so the race can at worst keep a pointer lower than the highest seen
   * until the next read.
   */
  async markRead(userId: string, room: string, seq: number): Promise<void> {
    const current = (await this.client.execute(Q.readOf, [userId, room])).first();
    const currentSeq = current ? bigintToNumber(current["read_seq"]) : 0;
    if (seq > currentSeq) await this.client.execute(Q.setRead, [seq, userId, room]);
  }

  /** At most `atMost` of the user's rooms, in one page. */
  async ofUser(userId: string, atMost: number): Promise<UserRoom[]> {
    const result = await this.client.execute(Q.ofUser, [userId, atMost], { fetchSize: atMost });
    return result.rows.map((row) => {
      const recorded = row["joined_at"] as Date | null;
      return { room: row["room"] as string, readSeq: bigintToNumber(row["read_seq"]), activeAt: recorded ? recorded.getTime() : 0 };
    });
  }
}
