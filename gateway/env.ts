/**
 * The local gateway's admission settings from the environment (`npm start`). A bad value names
 * its key and stops the start: a gateway silently running without the limit someone set is worse
 * than no gateway.
 *
 * | env | default | what |
 * |---|---|---|
 * | CHAT_GATEWAY_NODE_MAXCONN | 4000 | connections passed to each node, more wait in the queue (0: no limit) |
 * | CHAT_GATEWAY_QUEUE_TIMEOUT_MS | 5000 | how long they wait, then 503 |
 * | CHAT_GATEWAY_QUEUE_RETRY_AFTER_SECONDS | 5 | Retry-After of that 503 |
 * | CHAT_GATEWAY_HTTP_REQUEST_TIMEOUT_MS | 10000 | time to send a request's headers, then 408 and closed |
 * | CHAT_GATEWAY_CLIENT_LIMITS | off | `on`: per client address limits (all local clients are 127.0.0.1) |
 * | CHAT_GATEWAY_CLIENT_MAX_CONNECTIONS | 200 | connections one address may hold |
 * | CHAT_GATEWAY_CLIENT_NEW_CONNECTIONS_PER_10S | 100 | new connections per address per 10 s |
 * | CHAT_GATEWAY_CLIENT_REQUESTS_PER_10S | 1000 | requests per address per 10 s |
 * | CHAT_GATEWAY_CLIENT_RETRY_AFTER_SECONDS | 10 | Retry-After of the 429 |
 * | CHAT_GATEWAY_TRUSTED_PROXIES | (none) | comma-separated addresses/CIDRs of proxies that set the client address |
 * | CHAT_GATEWAY_CLIENT_ADDRESS_HEADER | X-Forwarded-For | where they set it (empty: their clients are not limited) |
 */
import { isIP } from "node:net";
import { DEFAULT_CLIENT_LIMITS, DEFAULT_WAITING_ROOM, type ClientLimits, type GatewayConfig, type WaitingRoom } from "./haproxy-config.js";

export type GatewayEnvSettings = Pick<GatewayConfig, "httpRequestTimeoutInMs" | "waitingRoom" | "clientLimits">;

type Env = Record<string, string | undefined>;

function integer(env: Env, key: string, fallback: number, min: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === "") return fallback;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new Error(`${key} must be a whole number ≥ ${min}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function onOff(env: Env, key: string): boolean {
  const raw = (env[key] ?? "off").trim().toLowerCase();
  if (raw === "on" || raw === "off") return raw === "on";
  throw new Error(`${key} must be "on" or "off", got ${JSON.stringify(env[key])}`);
}

/** `10.0.0.0/8`, `192.168.1.7`, `fd00::/8`: an address, optionally with a prefix length that fits it. */
export function isAddressOrCidr(text: string): boolean {
  const [address, prefix, extra] = text.split("/");
  const family = isIP(address ?? "");
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function trustedProxies(env: Env, key: string): string[] {
  const entries = (env[key] ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  const bad = entries.filter((entry) => !isAddressOrCidr(entry));
  if (bad.length > 0) throw new Error(`${key} must be comma-separated addresses or CIDRs, got ${JSON.stringify(bad)}`);
  return entries;
}

function headerName(env: Env, key: string, fallback: string): string {
  const raw = env[key];
  if (raw === undefined) return fallback;
  if (raw !== "" && !/^[A-Za-z0-9-]{1,64}$/.test(raw)) throw new Error(`${key} must be an HTTP header name, got ${JSON.stringify(raw)}`);
  return raw;
}

export function gatewaySettingsFromEnv(env: Env): GatewayEnvSettings {
  const waitingRoom: WaitingRoom = {
    maxConnectionsPerNode: integer(env, "CHAT_GATEWAY_NODE_MAXCONN", DEFAULT_WAITING_ROOM.maxConnectionsPerNode, 0),
    queueTimeoutInMs: integer(env, "CHAT_GATEWAY_QUEUE_TIMEOUT_MS", DEFAULT_WAITING_ROOM.queueTimeoutInMs, 1),
    retryAfterInSeconds: integer(env, "CHAT_GATEWAY_QUEUE_RETRY_AFTER_SECONDS", DEFAULT_WAITING_ROOM.retryAfterInSeconds, 1),
  };
  const limits: ClientLimits = {
    maxConnections: integer(env, "CHAT_GATEWAY_CLIENT_MAX_CONNECTIONS", DEFAULT_CLIENT_LIMITS.maxConnections, 1),
    newConnectionsPer10s: integer(env, "CHAT_GATEWAY_CLIENT_NEW_CONNECTIONS_PER_10S", DEFAULT_CLIENT_LIMITS.newConnectionsPer10s, 1),
    requestsPer10s: integer(env, "CHAT_GATEWAY_CLIENT_REQUESTS_PER_10S", DEFAULT_CLIENT_LIMITS.requestsPer10s, 1),
    retryAfterInSeconds: integer(env, "CHAT_GATEWAY_CLIENT_RETRY_AFTER_SECONDS", DEFAULT_CLIENT_LIMITS.retryAfterInSeconds, 1),
    trustedProxies: trustedProxies(env, "CHAT_GATEWAY_TRUSTED_PROXIES"),
    clientAddressHeader: headerName(env, "CHAT_GATEWAY_CLIENT_ADDRESS_HEADER", DEFAULT_CLIENT_LIMITS.clientAddressHeader),
  };
  return {
    httpRequestTimeoutInMs: integer(env, "CHAT_GATEWAY_HTTP_REQUEST_TIMEOUT_MS", 10_000, 1),
    waitingRoom,
    // Parsed (and so validated) even when off, so a typo fails now rather than when turned on.
    ...(onOff(env, "CHAT_GATEWAY_CLIENT_LIMITS") ? { clientLimits: limits } : {}),
  };
}
