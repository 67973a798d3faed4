import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_CLIENT_LIMITS, renderHaproxyConfig, type GatewayConfig } from "./haproxy-config.js";

const base: GatewayConfig = {
  bindHost: "127.0.0.1",
  bindPort: 8080,
  statsPort: 8404,
  backends: [
    { name: "n1", host: "127.0.0.1", port: 3001 },
    { name: "n2", host: "127.0.0.1", port: 3002 },
  ],
};
const config = renderHaproxyConfig(base);

/** The lines of one section (`frontend chat`, `backend chat_nodes`), without indentation. */
function section(header: string, of = config): string[] {
  const match = new RegExp(`^${header}\\n((?:[ ]+.*\\n?)*)`, "m").exec(of);
  assert.ok(match, `no section "${header}" in\n${of}`);
  return match[1]!
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

test("sessions stick to the node named by their sid prefix, and stay there while it drains", () => {
  const frontend = section("frontend chat");
  assert.ok(frontend.includes("use_backend chat_nodes if has_sid { urlp(sid) -m beg n1- n2- }"), frontend.join("\n"));
  assert.ok(frontend.includes("default_backend chat_nodes"));
  const backend = section("backend chat_nodes");
  assert.ok(backend.includes("use-server n1 if { urlp(sid) -m beg n1- }"));
  assert.ok(backend.includes("use-server n2 if { urlp(sid) -m beg n2- }"));
  assert.ok(backend.includes("server n1 127.0.0.1:3001"));
  assert.ok(backend.includes("server n2 127.0.0.1:3002"));
  assert.ok(backend.includes("force-persist if { urlp(sid) -m found }"));
});

test("a request for a node that is gone is redispatched to another node", () => {
  const defaults = section("defaults");
  assert.ok(defaults.includes("option redispatch"));
  assert.ok(defaults.some((line) => /^retries [1-9]$/.test(line)));
});

test("health checks are GET /readyz over HTTP/1.1 (uWS answers no HEAD and no HTTP/1.0) on every server", () => {
  const backend = section("backend chat_nodes");
  assert.ok(backend.includes("http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost"));
  assert.ok(backend.includes("http-check expect status 200"));
  assert.ok(section("defaults").includes("default-server check inter 1000ms fall 2 rise 1 maxconn 4000"), section("defaults").join("\n"));
});

test("the gateway answers /healthz and /readyz itself and never serves the nodes' /metrics", () => {
  const frontend = section("frontend chat");
  const index = (prefix: string) => frontend.findIndex((line) => line.startsWith(prefix));
  const ready = index("http-request return status 200 content-type text/plain string ready if { path /readyz } { nbsrv(chat_nodes) gt 0 }");
  const notReady = index('http-request return status 503 content-type text/plain string "not ready" if { path /readyz }');
  const metrics = index("http-request return status 404 content-type application/json");
  assert.ok(index("http-request return status 200 content-type text/plain string ok if { path /healthz }") >= 0, frontend.join("\n"));
  assert.ok(ready >= 0 && notReady > ready, "ready is answered before the 503 fallback");
  assert.ok(metrics >= 0 && frontend[metrics]!.endsWith("if { path /metrics }"), frontend.join("\n"));
  // The answers come before any routing rule, so no probe or metrics request reaches a node.
  assert.ok(Math.max(ready, notReady, metrics) < index("use_backend"));
});

test("the listeners bind where asked and WebSocket tunnels outlive the client timeout", () => {
  assert.ok(section("frontend chat").includes("bind 127.0.0.1:8080"));
  assert.ok(section("frontend stats").includes("bind 127.0.0.1:8404"));
  assert.ok(section("defaults").includes("timeout tunnel 1h"));
});

test("the waiting room: every node has a maxconn, the queue a time limit, and HAProxy's 503 a Retry-After", () => {
  const defaults = section("defaults");
  assert.ok(defaults.includes("timeout queue 5000ms"));
  const error = defaults.find((line) => line.startsWith("http-error status 503 content-type application/json"));
  assert.ok(error?.endsWith(" hdr Retry-After 5"), defaults.join("\n"));
  assert.match(error ?? "", /"code":"UNAVAILABLE"/);
  const tuned = renderHaproxyConfig({ ...base, waitingRoom: { maxConnectionsPerNode: 0, queueTimeoutInMs: 1500, retryAfterInSeconds: 3 } });
  assert.ok(section("defaults", tuned).includes("timeout queue 1500ms"));
  assert.ok(
    section("defaults", tuned).some((line) => line.endsWith("rise 1 maxconn 0")),
    "0 is HAProxy's no limit",
  );
});

test("client limits are off by default (every local client is 127.0.0.1) and complete when on", () => {
  assert.doesNotMatch(config, /stick-table|track-sc|gateway_refused/);
  const limited = renderHaproxyConfig({ ...base, clientLimits: DEFAULT_CLIENT_LIMITS });
  const frontend = section("frontend chat", limited);
  const index = (prefix: string) => frontend.findIndex((line) => line.startsWith(prefix));
  assert.ok(frontend.includes("tcp-request connection track-sc0 src"), frontend.join("\n"));
  assert.ok(frontend.includes("acl client_over_connections var(sess.client_conns) -m int gt 200"));
  assert.ok(frontend.includes("acl client_over_connect_rate var(sess.client_connect_rate) -m int gt 100"));
  assert.ok(frontend.includes("acl client_over_request_rate sc0_http_req_rate gt 1000"));
  assert.ok(frontend.includes("tcp-request connection reject if { var(sess.client_conns) -m int gt 400 }"), "dropped at twice the limit");
  assert.ok(frontend.includes("tcp-request connection reject if { var(sess.client_connect_rate) -m int gt 200 }"));
  // The refusals come after the gateway's own answers (probes stay served) and before the routing.
  const refusal = index("use_backend gateway_refused_connections");
  assert.ok(refusal > index('http-request return status 503 content-type text/plain string "not ready"'));
  assert.ok(refusal < index("use_backend chat_nodes"));
  for (const backend of ["gateway_refused_connections", "gateway_refused_connect_rate", "gateway_refused_request_rate"]) {
    const [deny, ...more] = section(`backend ${backend}`, limited);
    assert.match(
      deny ?? "",
      /^http-request deny deny_status 429 content-type application\/json string '\{"error":\{"code":"RATE_LIMITED",/,
    );
    assert.ok(deny?.endsWith(" hdr Retry-After 10 hdr Connection close"), deny);
    assert.deepEqual(more, []);
  }
});

test("behind trusted proxies their connections are keyed on the client address header, or not limited", () => {
  const limits = { ...DEFAULT_CLIENT_LIMITS, trustedProxies: ["10.0.0.0/8", "192.168.1.7"] };
  const frontend = section("frontend chat", renderHaproxyConfig({ ...base, clientLimits: limits }));
  assert.ok(frontend.includes("acl from_trusted_proxy src 10.0.0.0/8 192.168.1.7"), frontend.join("\n"));
  assert.ok(frontend.includes("tcp-request connection track-sc0 src unless from_trusted_proxy"));
  assert.ok(frontend.includes("http-request track-sc1 req.hdr_ip(X-Forwarded-For,-1) if from_trusted_proxy"));
  // A refusal keeps a trusted proxy's connection open: other clients' requests share it.
  const refusal = section("backend gateway_refused_request_rate", renderHaproxyConfig({ ...base, clientLimits: limits }));
  assert.ok(refusal[0]?.startsWith("acl from_trusted_proxy src 10.0.0.0/8 192.168.1.7"), refusal.join("\n"));
  assert.match(refusal[1] ?? "", /hdr Retry-After 10 if from_trusted_proxy$/);
  assert.match(refusal[2] ?? "", /hdr Retry-After 10 hdr Connection close$/);
  const off = section("frontend chat", renderHaproxyConfig({ ...base, clientLimits: { ...limits, clientAddressHeader: "" } }));
  assert.ok(off.includes("tcp-request connection track-sc0 src unless from_trusted_proxy"));
  assert.ok(!off.some((line) => line.includes("track-sc1")), off.join("\n"));
});
