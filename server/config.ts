/**
 * The socket node's configuration, read and validated once at boot (see common/env.ts).
 * Every setting, its unit and its default is listed here and in the README.
 */
import { ConfigError, EnvReader } from "../common/env.js";
import { readStorageConfig, type StorageConfig } from "../storage/config.js";
import { DEFAULT_LIMITS, type Limits } from "./chat/limits.js";
import {
  DEFAULT_CONNECT_RATE_PER_SECOND,
  DEFAULT_CONNECT_RETRY_AFTER_SECONDS,
  DEFAULT_MAX_CONNECTIONS,
  type AdmissionSettings,
} from "./realtime/admission.js";

export interface JwtConfig {
  /** HS256 shared secret. */
  secret: string | undefined;
  /** RS256/ES256 public key, PEM. */
  publicKeyPem: string | undefined;
}

export interface ServerConfig {
  /** Unique per node; the prefix of its engine.io session ids, which the gateway routes on. */
  nodeName: string;
  host: string;
  /** 0 picks a free port (tests); the node reports the real one over IPC and in its log. */
  port: number;
  /** Origins allowed for browser connections; empty means same origin only. */
  allowedOrigins: string[];
  jwt: JwtConfig;
  /** How long a draining node waits for clients to leave before it closes the rest. */
  drainDeadlineInMs: number;
  /**
   * How long a user stays in a room's presence without a heartbeat from their node: the delay
   * before the users of a node that died are announced offline (heartbeat every third of it).
   */
  presenceTtlInMs: number;
  limits: Limits;
  /** An engine.io session that has not authenticated within this long is closed. */
  authTimeoutInMs: number;
  /** Connections per node and new connections per second (server/realtime/admission.ts). */
  admission: AdmissionSettings;
  /** Coalescing of a room's history reads (storage/coalescing-history.ts). */
  historyReads: { windowInMs: number; maxConcurrentReads: number };
  storage: StorageConfig;
}

/** CHAT_PRESENCE_TTL_MS's default: users of a node that died are announced offline after 30 s. */
export const DEFAULT_PRESENCE_TTL_IN_MS = 30_000;

/** CHAT_AUTH_TIMEOUT_MS's default: a session that has not authenticated after 10 s is closed. */
export const DEFAULT_AUTH_TIMEOUT_IN_MS = 10_000;

export function readServerConfig(env = new EnvReader()): ServerConfig {
  const nodeName = env.string("CHAT_NODE_NAME", "node1");
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(nodeName)) throw new ConfigError(`CHAT_NODE_NAME must match [A-Za-z0-9_.-]{1,63}, got "${nodeName}"`);
  const jwt: JwtConfig = { secret: env.optionalString("CHAT_JWT_SECRET"), publicKeyPem: env.optionalString("CHAT_JWT_PUBLIC_KEY") };
  if (jwt.secret === undefined && jwt.publicKeyPem === undefined)
    throw new ConfigError("CHAT_JWT_SECRET or CHAT_JWT_PUBLIC_KEY must be set");
  if (jwt.secret !== undefined && jwt.secret.length < 16) throw new ConfigError("CHAT_JWT_SECRET must be at least 16 characters");
  return {
    nodeName,
    host: env.string("HOST", "0.0.0.0"),
    port: env.integer("PORT", 3000, { min: 0, max: 65535 }),
    allowedOrigins: env.list("CHAT_ALLOWED_ORIGINS", []),
    jwt,
    drainDeadlineInMs: env.integer("CHAT_DRAIN_DEADLINE_MS", 10_000, { min: 0 }),
    presenceTtlInMs: env.integer("CHAT_PRESENCE_TTL_MS", DEFAULT_PRESENCE_TTL_IN_MS, { min: 300 }),
    limits: {
      maxTextChars: env.integer("CHAT_MAX_TEXT_CHARS", DEFAULT_LIMITS.maxTextChars, { min: 1 }),
      maxMetaBytes: env.integer("CHAT_MAX_META_BYTES", DEFAULT_LIMITS.maxMetaBytes, { min: 0 }),
      maxClientIdChars: env.integer("CHAT_MAX_CLIENT_ID_CHARS", DEFAULT_LIMITS.maxClientIdChars, { min: 1 }),
      sendsPerSecond: env.integer("CHAT_SENDS_PER_SECOND", DEFAULT_LIMITS.sendsPerSecond, { min: 1 }),
      sendBurst: env.integer("CHAT_SEND_BURST", DEFAULT_LIMITS.sendBurst, { min: 1 }),
      eventsPerSecond: env.integer("CHAT_EVENTS_PER_SECOND", DEFAULT_LIMITS.eventsPerSecond, { min: 1 }),
      eventBurst: env.integer("CHAT_EVENT_BURST", DEFAULT_LIMITS.eventBurst, { min: 1 }),
      floodDisconnectAfterMs: env.integer("CHAT_FLOOD_DISCONNECT_MS", DEFAULT_LIMITS.floodDisconnectAfterMs, { min: 1000 }),
      typingIntervalInMs: env.integer("CHAT_TYPING_INTERVAL_MS", DEFAULT_LIMITS.typingIntervalInMs, { min: 0 }),
      roomsPerSocket: env.integer("CHAT_ROOMS_PER_SOCKET", DEFAULT_LIMITS.roomsPerSocket, { min: 1 }),
      connectionsPerUser: env.integer("CHAT_CONNECTIONS_PER_USER", DEFAULT_LIMITS.connectionsPerUser, { min: 1 }),
      maxTokenBytes: env.integer("CHAT_MAX_TOKEN_BYTES", DEFAULT_LIMITS.maxTokenBytes, { min: 256 }),
      maxTokenPatterns: env.integer("CHAT_MAX_TOKEN_PATTERNS", DEFAULT_LIMITS.maxTokenPatterns, { min: 1 }),
      // 0 would mean "no limit" to uWS: refused, like any cap too small for one ordinary message.
      maxOutgoingBufferBytes: env.integer("CHAT_MAX_OUTGOING_BUFFER_BYTES", DEFAULT_LIMITS.maxOutgoingBufferBytes, { min: 16 * 1024 }),
    },
    authTimeoutInMs: env.integer("CHAT_AUTH_TIMEOUT_MS", DEFAULT_AUTH_TIMEOUT_IN_MS, { min: 100 }),
    admission: {
      maxConnections: env.integer("CHAT_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, { min: 0 }),
      connectRatePerSecond: env.integer("CHAT_CONNECT_RATE", DEFAULT_CONNECT_RATE_PER_SECOND, { min: 0 }),
      retryAfterSeconds: env.integer("CHAT_CONNECT_RETRY_AFTER_SECONDS", DEFAULT_CONNECT_RETRY_AFTER_SECONDS, { min: 1, max: 3600 }),
    },
    historyReads: {
      windowInMs: env.integer("CHAT_HISTORY_COALESCE_WINDOW_MS", 5, { min: 0, max: 1000 }),
      maxConcurrentReads: env.integer("CHAT_HISTORY_READ_CONCURRENCY", 32, { min: 1 }),
    },
    storage: readStorageConfig(env),
  };
}
