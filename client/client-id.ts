/**
 * clientIds as UUIDv7 (RFC 9562): 48 bits of the ms they were made, then 74 random bits. The
 * server reads the time back to know that a retry's first ack is still in Redis, and spares the
 * Cassandra lookup that any other clientId costs (docs/protocol.md "Idempotency"); any string
 * still works. No dependency: crypto.getRandomValues is in browsers and Node alike.
 */

/** A UUIDv7 made at `now` (ms since the epoch), e.g. "0190b7e2-5c3a-7f1e-9a4b-3c2d1e0f9a8b". */
export function uuidV7(now: number = Date.now(), random: Uint8Array = crypto.getRandomValues(new Uint8Array(10))): string {
  const bytes = new Uint8Array(16);
  // 48-bit big-endian timestamp: the high 16 bits by division (bit operators stop at 32 bits).
  const high = Math.floor(now / 2 ** 32);
  const low = now >>> 0;
  bytes[0] = (high >>> 8) & 0xff;
  bytes[1] = high & 0xff;
  bytes[2] = low >>> 24;
  bytes[3] = (low >>> 16) & 0xff;
  bytes[4] = (low >>> 8) & 0xff;
  bytes[5] = low & 0xff;
  bytes.set(random.subarray(0, 10), 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f); // version 7
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // variant 10
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
