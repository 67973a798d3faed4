/**
 * The local gateway's haproxy.cfg (`npm start`, the tests): a `global` section for a process on
 * this machine, then the rules every gateway shares (routing.ts), filled in with the local nodes
 * as one group.
 */
import { renderRules, type RulesSettings } from "./routing.js";
import { literalWriter } from "./writers.js";

export interface GatewayBackend {
  name: string;
  host: string;
  port: number;
}

/** The waiting room (admission.ts): how many connections each node gets, how long others wait. */
export interface WaitingRoom {
  /** Concurrent connections passed to each node; more wait in HAProxy's queue. 0: no limit. */
  maxConnectionsPerNode: number;
  /** How long a connection waits in the queue for a node before the 503. */
  queueTimeoutInMs: number;
  /** Retry-After of that 503. */
  retryAfterInSeconds: number;
}

/**
 * Per client address limits (admission.ts). Off by default locally: every client of the local
 * cluster comes from 127.0.0.1, so a per-address limit would be a limit on all of them together.
 */
export interface ClientLimits {
  /** Connections one address may hold open. */
  maxConnections: number;
  /** New connections one address may open per 10 s. */
  newConnectionsPer10s: number;
  /** Requests one address may send per 10 s. */
  requestsPer10s: number;
  /** Retry-After of the 429. */
  retryAfterInSeconds: number;
  /** Addresses or CIDRs of proxies in front that set the client address (not limited themselves). */
  trustedProxies: string[];
  /** Header with the client address on their requests; "": their clients are not limited here. */
  clientAddressHeader: string;
}

/**
 * Kept at or below each node's own connection limit, so the gateway queues a newcomer before a
 * node has to refuse it; 2 local nodes × 4000 stay under the gateway's own maxconn (9000).
 */
export const DEFAULT_WAITING_ROOM: WaitingRoom = { maxConnectionsPerNode: 4000, queueTimeoutInMs: 5000, retryAfterInSeconds: 5 };

/**
 * Generous enough for an office behind one NAT address (each socket.io client holds one or two
 * connections and sends a few requests a second while polling), low enough that one address
 * cannot fill the gateway's maxconn.
 */
export const DEFAULT_CLIENT_LIMITS: ClientLimits = {
  maxConnections: 200,
  newConnectionsPer10s: 100,
  requestsPer10s: 1000,
  retryAfterInSeconds: 10,
  trustedProxies: [],
  clientAddressHeader: "X-Forwarded-For",
};

export interface GatewayConfig {
  bindHost: string;
  bindPort: number;
  /** Port of HAProxy's stats listener on bindHost (its own /metrics, /stats and /healthz). */
  statsPort: number;
  backends: GatewayBackend[];
  /** Time between health checks; two failures take a node out. */
  checkIntervalInMs?: number;
  /**
   * Concurrent client connections. HAProxy needs about two file descriptors per connection and
   * refuses to start above its FD limit (20000 on the dev machines), hence the default.
   */
  maxConnections?: number;
  /** The time a client may take to send a request's headers before it gets 408 and is closed. */
  httpRequestTimeoutInMs?: number;
  waitingRoom?: WaitingRoom;
  /** Undefined: no per-address limits. */
  clientLimits?: ClientLimits;
}

/** The backend of the local nodes (one group: the local cluster has no colours or canary). */
export const LOCAL_BACKEND = "chat_nodes";

export function renderHaproxyConfig({
  bindHost,
  bindPort,
  statsPort,
  backends,
  checkIntervalInMs = 1000,
  maxConnections = 9000,
  httpRequestTimeoutInMs = 10_000,
  waitingRoom = DEFAULT_WAITING_ROOM,
  clientLimits,
}: GatewayConfig): string {
  const settings: RulesSettings = {
    bind: `${bindHost}:${bindPort}`,
    statsBind: `${bindHost}:${statsPort}`,
    maxconn: String(maxConnections),
    // Round robin spreads handshakes evenly over the few local nodes; sessions then stick by sid.
    balance: "roundrobin",
    timeoutConnect: "5s",
    timeoutClient: "60s",
    timeoutServer: "60s",
    timeoutTunnel: "1h",
    timeoutHttpRequest: `${httpRequestTimeoutInMs}ms`,
    timeoutQueue: `${waitingRoom.queueTimeoutInMs}ms`,
    serverMaxconn: String(waitingRoom.maxConnectionsPerNode),
    queueRetryAfter: String(waitingRoom.retryAfterInSeconds),
    clientLimits: clientLimits ? "on" : "",
    clientMaxConnections: String(clientLimits?.maxConnections ?? 0),
    clientConnectRate: String(clientLimits?.newConnectionsPer10s ?? 0),
    clientDropConnections: String(2 * (clientLimits?.maxConnections ?? 0)),
    clientDropConnectRate: String(2 * (clientLimits?.newConnectionsPer10s ?? 0)),
    clientRequestRate: String(clientLimits?.requestsPer10s ?? 0),
    clientRetryAfter: String(clientLimits?.retryAfterInSeconds ?? 0),
    trustedProxies: (clientLimits?.trustedProxies ?? []).join(" "),
    clientAddressHeader: clientLimits?.clientAddressHeader ?? "",
    checkInterval: `${checkIntervalInMs}ms`,
    checkFall: "2",
    // One passed check brings a restarted node back: the rolling restart waits for it.
    checkRise: "1",
    serverOptions: "",
    canaryWeight: "0",
  };
  const group = {
    backend: LOCAL_BACKEND,
    sidPrefixes: backends.map((b) => `${b.name}-`),
    active: true,
    canary: false,
    servers: backends.map((b) => ({ name: b.name, address: `${b.host}:${b.port}` })),
  };
  const global = [
    "global",
    `    maxconn ${maxConnections}`,
    // Warnings and state changes (a node DOWN or UP) only: no line per request.
    "    log stderr format raw local0 warning",
    "",
  ];
  return [...global, renderRules(literalWriter({ settings, groups: [group] }))].join("\n");
}
