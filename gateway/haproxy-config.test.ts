import assert from "node:assert/strict";
import { test } from "node:test";
import { renderHaproxyConfig } from "./haproxy-config.js";

const config = renderHaproxyConfig({ bindHost: "127.0.0.1", bindPort: 8080, backends: [{ name: "n1", host: "127.0.0.1", port: 3001 }, { name: "n2", host: "127.0.0.1", port: 3002 }] });

test("sessions stick to the node named by their sid prefix", () => {
  assert.match(config, /use-server n1 if \{ urlp\(sid\) -m beg n1- \}/);
  assert.match(config, /use-server n2 if \{ urlp\(sid\) -m beg n2- \}/);
  assert.match(config, /server n1 127\.0\.0\.1:3001 check/);
});

test("health checks are GET /readyz over HTTP/1.1 (uWS answers no HEAD and no HTTP/1.0)", () => {
  assert.match(config, /http-check send meth GET uri \/readyz ver HTTP\/1\.1/);
  assert.match(config, /http-check expect status 200/);
});

test("the frontend binds where asked and WebSocket tunnels outlive the client timeout", () => {
  assert.match(config, /bind 127\.0\.0\.1:8080/);
  assert.match(config, /timeout tunnel 1h/);
});
