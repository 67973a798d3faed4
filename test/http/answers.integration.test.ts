/**
 * Every HTTP answer is a clear one (docs/protocol.md v1.1 "HTTP"), through the gateway: a JSON 404
 * for unknown paths instead of the gateway's 502, HEAD wherever GET is, the REST API's CORS and
 * preflight for allowed origins, and a refused origin named in the node's log and counted, on
 * the socket.io handshake and on the REST API.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTestCluster, type TestCluster } from "../fixture.js";
import { uniqueTag } from "../protocol/helpers.js";
import { pollingHandshake } from "../protocol/polling.js";
import { errorCodeOf, rawRequest } from "./raw-http.js";

const allowed = "http://chat.allowed.example";
const foreign = "http://evil.example";
const tag = uniqueTag();

let cluster: TestCluster;
let token: string;
before(async () => {
  cluster = await startTestCluster({ nodeCount: 1, env: { CHAT_ALLOWED_ORIGINS: allowed } });
  token = await cluster.token(`http-${tag}`, ["*"]);
});
after(async () => cluster?.stop());

const url = (path: string) => `${cluster.url}${path}`;

describe("unknown paths", () => {
  for (const [method, path] of [
    ["GET", "/favicon.ico"],
    ["GET", "/no/such/page?x=1"],
    ["POST", "/nothing-here"],
    ["DELETE", "/api-ish"],
  ] as const) {
    test(`${method} ${path}: 404 JSON NOT_FOUND, not the gateway's 502`, async () => {
      const answer = await rawRequest(url(path), { method });
      assert.equal(answer.status, 404, answer.body);
      assert.match(String(answer.headers["content-type"]), /application\/json/);
      assert.equal(errorCodeOf(answer), "NOT_FOUND");
    });
  }

  test("HEAD of an unknown path: 404 with the JSON's length and no body", async () => {
    const answer = await rawRequest(url("/missing"), { method: "HEAD" });
    assert.equal(answer.status, 404);
    assert.equal(answer.body, "");
    assert.ok(Number(answer.headers["content-length"]) > 0, `content-length ${answer.headers["content-length"]}`);
  });
});

describe("HEAD where GET exists", () => {
  for (const path of ["/readyz", "/healthz"]) {
    test(`HEAD ${path}: 200, the GET's length, no body`, async () => {
      const [head, get] = [await rawRequest(url(path), { method: "HEAD" }), await rawRequest(url(path))];
      assert.equal(head.status, 200, `HEAD ${path}: ${head.status}`);
      assert.equal(head.body, "");
      assert.equal(head.headers["content-length"], String(Buffer.byteLength(get.body)));
    });
  }

  test("HEAD /api/me/rooms: the GET's status (401 without a token, 200 with one), no body", async () => {
    const anonymous = await rawRequest(url("/api/me/rooms"), { method: "HEAD" });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body, "");
    const signedIn = await rawRequest(url("/api/me/rooms"), { method: "HEAD", headers: { authorization: `Bearer ${token}` } });
    assert.equal(signedIn.status, 200);
    assert.equal(signedIn.body, "");
    assert.match(String(signedIn.headers["content-type"]), /application\/json/);
  });
});

describe("CORS for the REST API", () => {
  test("the preflight from an allowed origin: 204 granting the method and the Authorization header", async () => {
    const answer = await rawRequest(url(`/api/rooms/r-${tag}/messages`), {
      method: "OPTIONS",
      headers: {
        origin: allowed,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(answer.status, 204, answer.body);
    assert.equal(answer.headers["access-control-allow-origin"], allowed);
    assert.match(String(answer.headers["access-control-allow-methods"]), /POST/);
    assert.match(String(answer.headers["access-control-allow-headers"]), /authorization/i);
  });

  test("requests from an allowed origin carry Access-Control-Allow-Origin, errors too", async () => {
    const rooms = await rawRequest(url("/api/me/rooms"), { headers: { origin: allowed, authorization: `Bearer ${token}` } });
    assert.equal(rooms.status, 200, rooms.body);
    assert.equal(rooms.headers["access-control-allow-origin"], allowed);
    const sent = await rawRequest(url(`/api/rooms/r-${tag}/messages`), {
      method: "POST",
      headers: { origin: allowed, authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ clientId: "cors-1", text: "from a page" }),
    });
    assert.equal(sent.status, 201, sent.body);
    assert.equal(sent.headers["access-control-allow-origin"], allowed);
    const unauthorized = await rawRequest(url("/api/me/rooms"), { headers: { origin: allowed } });
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.headers["access-control-allow-origin"], allowed, "a page must be able to read why it was refused");
  });

  test("a foreign origin: the preflight and the request itself are refused 403 FORBIDDEN, without CORS headers", async () => {
    const preflight = await rawRequest(url("/api/me/rooms"), {
      method: "OPTIONS",
      headers: { origin: foreign, "access-control-request-method": "GET" },
    });
    assert.equal(preflight.status, 403);
    assert.equal(errorCodeOf(preflight), "FORBIDDEN");
    assert.equal(preflight.headers["access-control-allow-origin"], undefined);
    const direct = await rawRequest(url("/api/me/rooms"), { headers: { origin: foreign, authorization: `Bearer ${token}` } });
    assert.equal(direct.status, 403);
    assert.equal(errorCodeOf(direct), "FORBIDDEN");
    assert.equal(direct.headers["access-control-allow-origin"], undefined);
  });

  test("servers and bots (no Origin) are served as before", async () => {
    const answer = await rawRequest(url("/api/me/rooms"), { headers: { authorization: `Bearer ${token}` } });
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.headers["access-control-allow-origin"], undefined);
  });
});

describe("a refused origin is logged and counted", () => {
  test("socket.io handshake and REST: a warn line naming the origin (no token), chat_origin_refused_total by transport", async () => {
    const origin = `http://refused-${tag}.example`;
    const handshake = await pollingHandshake(cluster.url, { origin });
    assert.equal(handshake.status, 403, handshake.body);
    const rest = await rawRequest(url("/api/me/rooms"), { headers: { origin, authorization: `Bearer ${token}` } });
    assert.equal(rest.status, 403);

    const metrics = await rawRequest(`${cluster.nodeUrl(0)}/metrics`);
    assert.match(metrics.body, /chat_origin_refused_total\{[^}]*via="socket\.io"[^}]*\} [1-9]/);
    assert.match(metrics.body, /chat_origin_refused_total\{[^}]*via="http"[^}]*\} [1-9]/);

    const logDir = join(process.env.CHAT_TEST_LOG_DIR ?? tmpdir(), cluster.prefix.slice(0, -1));
    const lines = readdirSync(logDir)
      .filter((file) => file.endsWith(".log") && !file.startsWith("flusher"))
      .flatMap((file) => readFileSync(join(logDir, file), "utf8").split("\n"))
      .filter((line) => line.includes(origin));
    const vias = lines.map((line) => (JSON.parse(line) as { via?: string }).via).sort();
    assert.deepEqual(vias, ["http", "socket.io"], `log lines naming the origin:\n${lines.join("\n")}`);
    for (const line of lines) assert.ok(!line.includes(token), "a refusal's log line must not carry the token");
  });
});

describe("the web chat at /", () => {
  test("GET / is the page, its bundle is JavaScript (gzip when accepted), HEAD / has the page's length", async () => {
    const page = await rawRequest(url("/"));
    assert.equal(page.status, 200, page.body);
    assert.match(String(page.headers["content-type"]), /text\/html/);
    assert.match(page.body, /<script type="module" src="\/app\.js">/);
    const bundle = await rawRequest(url("/app.js"), { headers: { "accept-encoding": "gzip" } });
    assert.equal(bundle.status, 200);
    assert.match(String(bundle.headers["content-type"]), /javascript/);
    assert.equal(bundle.headers["content-encoding"], "gzip");
    const head = await rawRequest(url("/"), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.equal(head.headers["content-length"], String(Buffer.byteLength(page.body)));
  });

  test("the dev sign-in does not exist on a node with another secret: 404 NOT_FOUND, no token", async () => {
    const probe = await rawRequest(url("/dev/sign-in"));
    assert.equal(probe.status, 404);
    const attempt = await rawRequest(url("/dev/sign-in"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "mallory" }),
    });
    assert.equal(attempt.status, 404, attempt.body);
    assert.equal(errorCodeOf(attempt), "NOT_FOUND");
    assert.doesNotMatch(attempt.body, /token/);
  });
});
