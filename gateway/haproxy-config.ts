/**
 * Renders the gateway's HAProxy configuration.
 *
 * Stickiness without cookies: engine.io session ids start with "<nodeName>-" (see
 * server/realtime/io.ts), and every polling request and the WebSocket upgrade carry the id in
 * the `sid` query parameter, so `use-server` on that prefix sends a session back to its node.
 * A handshake (no sid yet) goes to the least loaded node. If a node is down, HAProxy ignores
 * its use-server rule, the request lands elsewhere, engine.io answers "unknown sid" and the
 * client reconnects: the behaviour a dead node should have.
 *
 * Health checks are GET over HTTP/1.1: uWS answers neither HEAD nor HTTP/1.0.
 */
export interface GatewayBackend {
  name: string;
  host: string;
  port: number;
}

export interface GatewayConfig {
  bindHost: string;
  bindPort: number;
  backends: GatewayBackend[];
  /** Time between health checks; two failures take a node out. */
  checkIntervalInMs?: number;
  /**
   * Concurrent client connections. HAProxy needs about two file descriptors per connection and
   * refuses to start above its FD limit (20000 on the dev machines), hence the default.
   */
  maxConnections?: number;
}

export function renderHaproxyConfig({ bindHost, bindPort, backends, checkIntervalInMs = 1000, maxConnections = 9000 }: GatewayConfig): string {
  const lines = [
    "global",
    `  maxconn ${maxConnections}`,
    "",
    "defaults",
    "  mode http",
    "  option forwardfor",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    // WebSocket connections live long; pings (25 s by default) keep them under this.
    "  timeout tunnel 1h",
    "  timeout http-keep-alive 10s",
    "",
    "frontend gateway",
    `  bind ${bindHost}:${bindPort}`,
    "  default_backend chat_nodes",
    "",
    "backend chat_nodes",
        // Round-robin spreads handshakes evenly; sessions then stick by sid (below).
    "  balance roundrobin",
    "  option httpchk",
    "  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost",
    "  http-check expect status 200",
    `  default-server inter ${checkIntervalInMs}ms fall 2 rise 1`,
    ...backends.map((b) => `  use-server ${b.name} if { urlp(sid) -m beg ${b.name}- }`),
    ...backends.map((b) => `  server ${b.name} ${b.host}:${b.port} check`),
    "",
  ];
  return lines.join("\n");
}
