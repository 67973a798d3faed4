/**
 * Shared pieces of the v1.1 "Messages change" suites: tokens with a `mod` claim, the three
 * change events, and a way to make Redis forget a room's recent log so that reads must come
 * from Cassandra (the second read path).
 */
import { SignJWT } from "jose";
import type { Socket } from "socket.io-client";
import type { ChatChange, MessageView } from "../../storage/change.js";
import { ChangeKeys } from "../../storage/change-keys.js";
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import { RedisKeys } from "../../storage/keys.js";
import type { ChatMessage } from "../../storage/message.js";
import { eventually, request, TEST_JWT_SECRET, type TestCluster } from "../fixture.js";
import { assertOk, send, type Ack, type SendResult } from "../protocol/helpers.js";

export type ChangeAck = Ack<{ seq: number; ts: number; duplicate?: boolean }>;
export type ViewPage = { messages: MessageView[]; more: boolean };
/** `changes` is left out when there are none (a v1 client's answer stays as it was). */
export type JoinSince = { room: string; seq: number; messages: ChatMessage[]; changes: ChatChange[]; more: boolean };

/** A token with `rooms` and, when given, a `mod` claim. */
export async function tokenWithMod(userId: string, rooms: string[], mod?: string[]): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(mod === undefined ? { rooms } : { rooms, mod })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

export function edit(socket: Socket, room: string, id: string, clientId: string, text: string): Promise<ChangeAck> {
  return request<ChangeAck>(socket, "edit", { room, id, clientId, text });
}

export function remove(socket: Socket, room: string, id: string, clientId: string): Promise<ChangeAck> {
  return request<ChangeAck>(socket, "delete", { room, id, clientId });
}

export function react(socket: Socket, room: string, id: string, clientId: string, emoji: string, on: boolean): Promise<ChangeAck> {
  return request<ChangeAck>(socket, "react", { room, id, clientId, emoji, on });
}

export async function sent(
  socket: Socket,
  room: string,
  clientId: string,
  text: string,
  meta?: Record<string, unknown>,
): Promise<SendResult> {
  return assertOk(await send(socket, room, clientId, text, meta), `send ${clientId}`);
}

export async function historyOf(socket: Socket, room: string, limit = 100, beforeSeq?: number): Promise<ViewPage> {
  return assertOk(
    await request<Ack<ViewPage>>(socket, "history", beforeSeq === undefined ? { room, limit } : { room, limit, beforeSeq }),
    "history",
  );
}

export async function joinSince(socket: Socket, room: string, since: number): Promise<JoinSince> {
  const joined = assertOk(await request<Ack<JoinSince>>(socket, "join", { room, since }), "join since");
  return { ...joined, changes: joined.changes ?? [] };
}

function keysOf(cluster: TestCluster): { keys: RedisKeys; changeKeys: ChangeKeys } {
  const keys = new RedisKeys(cluster.prefix, DEFAULT_STREAM_CONFIG.shards);
  return { keys, changeKeys: new ChangeKeys(keys) };
}

/** Resolves once the flusher has taken every entry of the room's shard stream. */
export async function flushed(cluster: TestCluster, room: string): Promise<void> {
  const { keys } = keysOf(cluster);
  await eventually(`room ${room} flushed`, async () => ((await cluster.redis.xlen(keys.streamOf(room))) === 0 ? true : undefined));
}

/**
 * After a flush: drops the room's recent messages, recent changes and message states from
 * Redis (its seq stays), so every read of the room comes from Cassandra.
 */
export async function forgetRecent(cluster: TestCluster, room: string, messageIds: readonly string[]): Promise<void> {
  await flushed(cluster, room);
  const { keys, changeKeys } = keysOf(cluster);
  await cluster.redis.del(
    keys.roomRecent(room),
    changeKeys.roomChanges(room),
    ...messageIds.map((id) => changeKeys.messageState(room, id)),
  );
}

/** Every Redis key of the room's recent log and states, for erasure checks. */
export async function redisTextsOf(cluster: TestCluster, room: string, messageIds: readonly string[]): Promise<string> {
  const { keys, changeKeys } = keysOf(cluster);
  const parts = [
    ...(await cluster.redis.zrange(keys.roomRecent(room), "0", "-1")),
    ...(await cluster.redis.zrange(changeKeys.roomChanges(room), "0", "-1")),
    ...(await cluster.redis.xrange(keys.streamOf(room), "-", "+")).flatMap(([, fields]) => fields),
  ];
  for (const id of messageIds) parts.push(JSON.stringify(await cluster.redis.hgetall(changeKeys.messageState(room, id))));
  return parts.join("\n");
}
