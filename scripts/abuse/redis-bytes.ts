/**
 * Redis bytes per acknowledged send, at the allowed rate (20/s), once the flusher has moved the
 * messages to Cassandra: what the idempotency receipts and the rest leave behind per send.
 */
import type { Redis } from "ioredis";
import { io as connect } from "socket.io-client";
import { mintToken } from "../lib/tokens.js";

export async function redisBytesPerSend(
  url: string,
  redis: Redis,
  secret: string,
  tag: string,
): Promise<{ bytesPerSend: number; acked: number }> {
  const sendRoom = `abuse-${tag}:bytes`;
  const sender = connect(url, {
    auth: { token: await mintToken({ secret, userId: `sender-${tag}`, rooms: [`abuse-${tag}:*`] }) },
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
  });
  await new Promise<void>((resolve, reject) => (sender.once("connect", resolve), sender.once("connect_error", reject)));
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1]);
  const memoryBefore = await usedMemory();
  let acked = 0;
  for (let i = 0; i < 200; i++) {
    const reply = (await sender.timeout(10_000).emitWithAck("send", { room: sendRoom, clientId: `b${i}`, text: "x".repeat(100) })) as {
      ok: boolean;
    };
    if (reply.ok) acked++;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  sender.disconnect();
  await new Promise((resolve) => setTimeout(resolve, 5000)); // the flusher drains the stream
  const bytesPerSend = Math.round(((await usedMemory()) - memoryBefore) / Math.max(1, acked));
  return { bytesPerSend, acked };
}
