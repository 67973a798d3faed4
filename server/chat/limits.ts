/** The sizes and rates a user's sends are held to; read from the environment by server/config.ts. */
export interface Limits {
  /** Longest message text, in characters (UTF-16 code units, as String.length counts). */
  maxTextChars: number;
  /** Largest `meta`, in bytes of its JSON. */
  maxMetaBytes: number;
  maxClientIdChars: number;
  /** Sustained sends per second per user, and the burst above it (token bucket, enforced by the message log). */
  sendsPerSecond: number;
  sendBurst: number;
}

export const DEFAULT_LIMITS: Limits = { maxTextChars: 4000, maxMetaBytes: 2048, maxClientIdChars: 64, sendsPerSecond: 20, sendBurst: 40 };
