import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry } from "prom-client";
import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import type { Logger } from "../../common/logger.js";
import { OriginPolicy } from "./origin-policy.js";
import { routeFacade } from "./route-facade.js";

type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** An in-memory uWS app: the routes registered, by "method pattern". */
function fakeApp(): { app: TemplatedApp; routes: Map<string, Handler> } {
  const routes = new Map<string, Handler>();
  const app = {} as Record<string, unknown>;
  for (const method of ["get", "head", "post", "any", "options"]) {
    app[method] = (pattern: string, handler: Handler) => {
      routes.set(`${method} ${pattern}`, handler);
      return app;
    };
  }
  return { app: app as unknown as TemplatedApp, routes };
}

/** A response that records what was written, in order. */
function fakeResponse(): { res: HttpResponse; written: string[] } {
  const written: string[] = [];
  const res = {
    writeStatus: (status: string) => (written.push(`status ${status}`), res),
    writeHeader: (name: string, value: string) => (written.push(`header ${name}: ${value}`), res),
    end: (body?: string) => (written.push(`body ${body ?? ""}`), res),
    endWithoutBody: () => (written.push("no body"), res),
  };
  return { res: res as unknown as HttpResponse, written };
}

function fakeRequest(headers: Record<string, string>): HttpRequest {
  return { getHeader: (name: string) => headers[name] ?? "" } as unknown as HttpRequest;
}

const warnings: unknown[] = [];
const logger = { warn: (fields: unknown) => warnings.push(fields) } as unknown as Logger;

const route: Handler = (res) => void res.writeStatus("401 Unauthorized").writeHeader("content-type", "application/json").end('{"error":1}');

test("a GET route also answers HEAD: the same status and headers, the body's length, no body", () => {
  const { app, routes } = fakeApp();
  routeFacade(app).get("/x", route);
  const { res, written } = fakeResponse();
  routes.get("head /x")!(res, fakeRequest({}));
  assert.deepEqual(written, ["status 401 Unauthorized", "header content-type: application/json", "header content-length: 11", "no body"]);
});

test("an allowed origin gets the CORS headers right after the status line; no Origin, none", () => {
  const { app, routes } = fakeApp();
  routeFacade(app, new OriginPolicy(["http://ok.example"], logger, new Registry())).get("/x", route);
  const allowed = fakeResponse();
  routes.get("get /x")!(allowed.res, fakeRequest({ origin: "http://ok.example" }));
  assert.equal(allowed.written[0], "status 401 Unauthorized");
  assert.equal(allowed.written[1], "header access-control-allow-origin: http://ok.example");
  assert.equal(allowed.written.at(-1), 'body {"error":1}');
  const server = fakeResponse();
  routes.get("get /x")!(server.res, fakeRequest({}));
  assert.ok(!server.written.some((line) => line.includes("access-control")), server.written.join("\n"));
});

test("a foreign origin is refused 403 before the route runs, logged by name and counted", async () => {
  const { app, routes } = fakeApp();
  const registry = new Registry();
  let ran = false;
  routeFacade(app, new OriginPolicy(["http://ok.example"], logger, registry)).post("/x", () => void (ran = true));
  const { res, written } = fakeResponse();
  warnings.length = 0;
  routes.get("post /x")!(res, fakeRequest({ origin: "http://evil.example", host: "chat.example" }));
  assert.equal(ran, false);
  assert.equal(written[0], "status 403 Forbidden");
  assert.match(written.at(-1)!, /"code":"FORBIDDEN"/);
  assert.equal((warnings[0] as { origin: string }).origin, "http://evil.example");
  assert.match(await registry.metrics(), /chat_origin_refused_total\{via="http"\} 1/);
});
