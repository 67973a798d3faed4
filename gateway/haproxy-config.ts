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
}

/** The backend of the local nodes (one group: the local cluster has no colours or canary). */
export const LOCAL_BACKEND = "chat_nodes";

export function renderHaproxyConfig({ bindHost, bindPort, statsPort, backends, checkIntervalInMs = 1000, maxConnections = 9000 }: GatewayConfig): string {
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
    timeoutHttpRequest: "10s",
    timeoutQueue: "5s",
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
