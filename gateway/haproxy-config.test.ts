import assert from "node:assert/strict";
import { test } from "node:test";
import { renderHaproxyConfig } from "./haproxy-config.js";

const config = renderHaproxyConfig({
  bindHost: "127.0.0.1",
  bindPort: 8080,
  statsPort: 8404,
  backends: [
    { name: "n1", host: "127.0.0.1", port: 3001 },
    { name: "n2", host: "127.0.0.1", port: 3002 },
  ],
});

/** The lines of one section (`frontend chat`, `backend chat_nodes`), without indentation. */
function section(header: string): string[] {
  const match = new RegExp(`^${header}\\n((?:[ ]+.*\\n?)*)`, "m").exec(config);
  assert.ok(match, `no section "${header}" in\n${config}`);
  return match[1]!.split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
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
  assert.ok(section("defaults").includes("default-server check inter 1000ms fall 2 rise 1"));
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
