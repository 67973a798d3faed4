/**
 * The chat client SDK for browsers and Node (ESM). Node clients that want their outbox in a
 * file import FileOutboxStore from "./file-store.js" (kept out of this entry point, so the
 * browser bundle carries no Node module).
 */
export { ChatClient, newClientId, type ChatClientEvents, type ChatClientOptions } from "./client.js";
export type { ConnectionState } from "./connection.js";
export { ChatError, type ErrorCode } from "./errors.js";
export { Backoff, parseRetryAfter, type BackoffOptions } from "./backoff.js";
export { MemoryOutboxStore, type OutboxStore, type StoredOperation } from "./outbox-store.js";
export { IndexedDbOutboxStore } from "./indexeddb-store.js";
export { RoomState, applyChange } from "./room-state.js";
export { socketIoTransport, type SocketIoOptions } from "./socketio-transport.js";
export type { Transport, TransportHandlers } from "./transport.js";
export type { TokenProvider } from "./token.js";
export type * from "./protocol.js";
