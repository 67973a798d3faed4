/**
 * The gateway's HAProxy rules: the one source for the local gateway (`npm start`, the tests) and
 * the Helm chart. Everything from `defaults` on is written here; the callers add only what is
 * specific to where HAProxy runs (the `global` section, the chart's DNS resolvers).
 *
 * The rules are written against a {@link RulesWriter}: `literalWriter` fills in a concrete
 * topology (the local nodes), `helmWriter` emits the same lines as a Go template that loops over
 * the chart's node groups, committed as helm/chat/files/haproxy-routing.cfg. A unit test
 * regenerates that file and fails when the committed copy differs, so the two cannot drift.
 *
 * Routing (stickiness without cookies): engine.io session ids are `<nodeName>-<random>` (see
 * server/realtime/io.ts) and every polling request and the WebSocket upgrade carry the id in the
 * `sid` query parameter.
 *  - A request with a `sid` goes to the group whose prefix starts the sid, then to the server
 *    named by the sid (`use-server`); `force-persist` keeps it there while the node fails its
 *    health check (a draining node keeps serving its sessions until it exits).
 *  - A new session placed on a node that refuses the connection (it died and the health checks
 *    have not noticed yet) is retried, then redispatched to another node. A request with a `sid`
 *    is never redispatched (force-persist forbids it): for a node that is gone it ends in 503
 *    after the retries, and the socket.io client opens a new session, placed on a live node.
 *  - A request without `sid` (a new session) is balanced over the ready nodes of the active
 *    group, or goes to the canary group for `canaryWeight` percent of new sessions.
 *
 * The gateway's own endpoints on the public port (docs/protocol.md "Local cluster"):
 *  - `GET /healthz` 200 while HAProxy runs; `GET /readyz` 200 while at least one node of the
 *    active group passes its health check (HAProxy can place a new session), else 503. HAProxy
 *    answers both itself; the nodes' own probes are never reached through the gateway. Locally
 *    the gateway starts after the flusher and the nodes answered their own /readyz, and a node is
 *    ready only while it reaches its stores, so 200 there means every component is up.
 *  - `/metrics` of the nodes is not served (404 JSON, as any unknown path): node metrics are for
 *    Prometheus, scraping each node directly. HAProxy's own metrics are on the stats listener.
 *
 * Health checks are GET over HTTP/1.1 with a Host header: uWS answers neither HEAD nor HTTP/1.0,
 * and HAProxy's `http-check send` defaults to HTTP/1.0.
 *
 * Admission (admission.ts): the waiting room (`maxconn` on every server, bounded by
 * `timeout queue`, then 503 with Retry-After) and the per client address limits (429 with
 * Retry-After), answered after the gateway's own /healthz and /readyz and before the routing.
 */
import { clientRefusals, clientTracking, queueTimeoutAnswer, refusalBackends } from "./admission.js";

/** Values that differ between the local gateway and the chart, all as HAProxy writes them. */
export interface RulesSettings {
  /** Address of the public listener, e.g. `127.0.0.1:8080` or `:8080`. */
  bind: string;
  /** Address of the stats listener (HAProxy's own /metrics and /stats, never public). */
  statsBind: string;
  /** Concurrent client connections of the public listener. */
  maxconn: string;
  /** How new sessions are placed on the ready nodes (`roundrobin`, `leastconn`). */
  balance: string;
  timeoutConnect: string;
  timeoutClient: string;
  timeoutServer: string;
  /** Idle limit of an upgraded WebSocket (pings, 25 s by default, keep live ones under it). */
  timeoutTunnel: string;
  /** How long a client may take to send a request's headers (slowloris): then 408 and closed. */
  timeoutHttpRequest: string;
  /** How long a request waits for a node slot when every node is at `serverMaxconn`: then 503. */
  timeoutQueue: string;
  /** Concurrent connections HAProxy passes to each node; more wait in the queue. `0`: no limit. */
  serverMaxconn: string;
  /** Retry-After (seconds) of the 503 HAProxy answers itself (queue time out, no node). */
  queueRetryAfter: string;
  /** `on`: limit each client address (admission.ts); empty: no per-address limit. */
  clientLimits: string;
  /** Connections one client address may hold open. */
  clientMaxConnections: string;
  /** New connections one client address may open per 10 s. */
  clientConnectRate: string;
  /** Requests one client address may send per 10 s. */
  clientRequestRate: string;
  /** Connections of one address past which a new one is dropped at accept (twice the limit). */
  clientDropConnections: string;
  /** New connections per 10 s of one address past which a new one is dropped at accept (twice the limit). */
  clientDropConnectRate: string;
  /** Retry-After (seconds) of the 429 refusals. */
  clientRetryAfter: string;
  /** Space-separated addresses/CIDRs of proxies in front that set the client address; may be empty. */
  trustedProxies: string;
  /** Header holding the client address on requests from trustedProxies; empty: theirs are not limited. */
  clientAddressHeader: string;
  /** Health check interval; `checkFall` failures take a node out, `checkRise` passes bring it back. */
  checkInterval: string;
  checkFall: string;
  checkRise: string;
  /** Extra `default-server` options (the chart's DNS resolution of pods), may be empty. */
  serverOptions: string;
  /** Percentage of new sessions sent to the canary group, if there is one. */
  canaryWeight: string;
}

/** One node group's values as the writer spells them (a literal, or a template expression). */
export interface GroupRef {
  backend: string;
  /** Space-separated `-m beg` patterns: the sid prefixes of this group's nodes. */
  sidPrefixes: string;
}

export interface ServerRef {
  name: string;
  /** host:port */
  address: string;
}

export type GroupFilter = "all" | "active" | "canary";

/** How the rules are spelled out: as a finished config, or as a template over the chart's groups. */
export interface RulesWriter {
  setting(name: keyof RulesSettings): string;
  /** ` <options>` when the setting is not empty, else nothing. */
  optionalSetting(name: keyof RulesSettings): string;
  /** `lines` when the setting is not empty, else `otherwise`. */
  ifSet(name: keyof RulesSettings, lines: string[], otherwise?: string[]): string[];
  /** The lines of `body` for each group that passes `filter`, in the groups' order. */
  eachGroup(filter: GroupFilter, body: (group: GroupRef, eachServer: ServerLoop) => string[]): string[];
}

export type ServerLoop = (body: (server: ServerRef) => string[]) => string[];

/**
 * Node-internal paths that share the nodes' port with chat traffic but are not for clients.
 * Matched exactly (query aside): uWS routes no variant of them (`/metrics/`, `//metrics`,
 * `/%6detrics`) to the endpoint.
 */
export const NODE_INTERNAL_PATHS = ["/metrics"] as const;

const NOT_FOUND_JSON = `{"error":{"code":"NOT_FOUND","message":"not served through the gateway"}}`;

export function renderRules(w: RulesWriter): string {
  return [...defaultsSection(w), "", ...statsSection(w), "", ...frontendSection(w), ...backendSections(w), ...refusalBackends(w), ""].join(
    "\n",
  );
}

function defaultsSection(w: RulesWriter): string[] {
  return [
    "defaults",
    "    mode http",
    "    log global",
    "    option httplog",
    "    option dontlognull",
    "    # A new session whose node refuses the connection is retried, then placed on another node.",
    "    # Requests with a sid are not (force-persist): for a node that is gone they end in 503.",
    "    option redispatch",
    "    retries 2",
    `    timeout connect ${w.setting("timeoutConnect")}`,
    `    timeout client ${w.setting("timeoutClient")}`,
    `    timeout server ${w.setting("timeoutServer")}`,
    `    timeout tunnel ${w.setting("timeoutTunnel")}`,
    `    timeout http-request ${w.setting("timeoutHttpRequest")}`,
    "    timeout http-keep-alive 10s",
    `    timeout queue ${w.setting("timeoutQueue")}`,
    "    timeout client-fin 5s",
    "    timeout server-fin 5s",
    ...queueTimeoutAnswer(w),
    "    # maxconn: the waiting room (admission.ts); past it new connections queue for `timeout queue`.",
    `    default-server check inter ${w.setting("checkInterval")} fall ${w.setting("checkFall")} rise ${w.setting("checkRise")}` +
      ` maxconn ${w.setting("serverMaxconn")}` +
      w.optionalSetting("serverOptions"),
  ];
}

function statsSection(w: RulesWriter): string[] {
  return [
    "frontend stats",
    `    bind ${w.setting("statsBind")}`,
    "    monitor-uri /healthz",
    "    http-request use-service prometheus-exporter if { path /metrics }",
    "    stats enable",
    "    stats uri /stats",
    "    stats refresh 10s",
  ];
}

function frontendSection(w: RulesWriter): string[] {
  return [
    "frontend chat",
    `    bind ${w.setting("bind")}`,
    `    maxconn ${w.setting("maxconn")}`,
    "    option forwardfor",
    ...clientTracking(w),
    "    # The gateway answers its own probes (to an address refused with 429 too); the nodes' probes and",
    "    # metrics stay private.",
    "    http-request return status 200 content-type text/plain string ok if { path /healthz }",
    ...w.eachGroup("active", (group) => [
      `    http-request return status 200 content-type text/plain string ready if { path /readyz } { nbsrv(${group.backend}) gt 0 }`,
    ]),
    '    http-request return status 503 content-type text/plain string "not ready" if { path /readyz }',
    `    http-request return status 404 content-type application/json string '${NOT_FOUND_JSON}' if { path ${NODE_INTERNAL_PATHS.join(" ")} }`,
    ...clientRefusals(w),
    "    acl has_sid urlp(sid) -m found",
    ...w.eachGroup("all", (group) => [`    use_backend ${group.backend} if has_sid { urlp(sid) -m beg ${group.sidPrefixes} }`]),
    "    # New sessions (no sid yet).",
    ...w.eachGroup("canary", (group) => [`    use_backend ${group.backend} if !has_sid { rand(100) lt ${w.setting("canaryWeight")} }`]),
    ...w.eachGroup("active", (group) => [`    default_backend ${group.backend}`]),
  ];
}

function backendSections(w: RulesWriter): string[] {
  return w.eachGroup("all", (group, eachServer) => [
    "",
    `backend ${group.backend}`,
    `    balance ${w.setting("balance")}`,
    "    option httpchk",
    "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost",
    "    http-check expect status 200",
    "    # A draining node fails /readyz and gets no new session, but the sessions it still holds",
    "    # keep reaching it until it exits.",
    "    force-persist if { urlp(sid) -m found }",
    ...eachServer((server) => [`    use-server ${server.name} if { urlp(sid) -m beg ${server.name}- }`]),
    ...eachServer((server) => [`    server ${server.name} ${server.address}`]),
  ]);
}
