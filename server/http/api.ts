/**
 * The REST API (docs/protocol.md "HTTP API") on the node's uWS app, for bots and servers that do not
 * keep a socket: the same ChatService as the socket events, with Bearer-token auth.
 * Errors are `{ error: { code, message } }` with the status HTTP_STATUS gives their code.
 *
 * Each request is one client action with a correlation id (common/trace-id.ts): the client's
 * `X-Request-Id` when well-formed, else a new one. It is answered in the `X-Request-Id` header,
 * passed on to what the request writes (the stream entry, for the flusher's lines), and logged
 * as `trace.id` on the request's line (one per request, at info: the API's access log).
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import type { Logger } from "../../common/logger.js";
import { newTraceId, traceFields, traceIdFromClient } from "../../common/trace-id.js";
import { AuthError, type TokenVerifier } from "../auth/tokens.js";
import { ChatError, toErrorBody, type ErrorCode } from "../chat/errors.js";
import type { Principal } from "../chat/principal.js";
import type { ChatService } from "../chat/service.js";
import type { NodeMetrics } from "../metrics.js";

/** Bodies above this are refused with 413 before they are buffered further. */
const MAX_BODY_BYTES = 64 * 1024;

/** The HTTP status of each error code of the chat domain. */
const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  RATE_LIMITED: 429,
  LIMIT_REACHED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  413: "Payload Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

interface ApiDeps {
  chat: ChatService;
  verifier: TokenVerifier;
  metrics: NodeMetrics;
  logger: Logger;
}

/** What a handler gets: everything read from the request up front (uWS requests die after the first await). */
interface ApiRequest {
  authorization: string;
  params: string[];
  query: URLSearchParams;
  body: () => Promise<unknown>;
  /** The request's correlation id (the client's X-Request-Id, or a new one). */
  traceId: string;
}

type ApiHandler = (request: ApiRequest, principal: Principal) => Promise<{ status: number; body: unknown }>;

export function mountApiRoutes(app: TemplatedApp, deps: ApiDeps): void {
  const { chat } = deps;
  route(app, "get", "/api/rooms/:room/messages", deps, "history", async ({ params, query }, principal) => {
    const page = await chat.history(principal, {
      room: params[0],
      beforeSeq: optionalInteger(query.get("beforeSeq")),
      limit: optionalInteger(query.get("limit")),
    });
    return { status: 200, body: { messages: page.messages, more: page.more } };
  });
  route(app, "post", "/api/rooms/:room/messages", deps, "send", async ({ params, body, traceId }, principal) => {
    const input = await body();
    const result = await chat.send(principal, typeof input === "object" && input !== null ? { ...input, room: params[0] } : input, traceId);
    return { status: result.duplicate ? 200 : 201, body: result };
  });
  route(app, "get", "/api/me/rooms", deps, "rooms", async ({ query }, principal) => {
    const input = { limit: optionalInteger(query.get("limit")), after: query.get("after") ?? undefined };
    return { status: 200, body: await chat.rooms(principal, input) };
  });
  app.any("/api/*", (res) => send(res, 404, { error: { code: "NOT_FOUND", message: "no such API route" } }));
}

function route(app: TemplatedApp, method: "get" | "post", pattern: string, deps: ApiDeps, event: string, handler: ApiHandler): void {
  const paramCount = (pattern.match(/:/g) ?? []).length;
  app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
    const started = performance.now();
    const request: ApiRequest = {
      authorization: req.getHeader("authorization"),
      params: Array.from({ length: paramCount }, (_, i) => decodeURIComponent(req.getParameter(i) ?? "")),
      query: new URLSearchParams(req.getQuery() ?? ""),
      body: method === "post" ? readJsonBody(res) : async () => undefined,
      traceId: traceIdFromClient(req.getHeader("x-request-id")) ?? newTraceId(),
    };
    let aborted = false;
    res.onAborted(() => (aborted = true));
    // answer() never rejects: every failure becomes an error body.
    void answer(request, deps, event, handler).then(({ status, body, userId }) => {
      if (!aborted) res.cork(() => send(res, status, body, request.traceId));
      deps.logger.info(
        {
          "event.action": `http:${event}`,
          "http.request.method": method.toUpperCase(),
          "http.response.status_code": status,
          ...(userId === undefined ? {} : { "user.id": userId }),
          ...traceFields(request.traceId),
          "event.duration": Math.round((performance.now() - started) * 1e6),
          ...(aborted ? { aborted: true } : {}),
        },
        "API request",
      );
    });
  });
}

async function answer(
  request: ApiRequest,
  deps: ApiDeps,
  event: string,
  handler: ApiHandler,
): Promise<{ status: number; body: unknown; userId?: string }> {
  let userId: string | undefined;
  try {
    const principal = await authenticate(request.authorization, deps.verifier);
    userId = principal.userId;
    // Each request draws on the user's event budget, like each socket event.
    deps.chat.admit(principal);
    return { ...(await handler(request, principal)), userId };
  } catch (error) {
    if (error instanceof AuthError) {
      if (error.refusal) deps.metrics.refusals.inc({ reason: error.refusal });
      deps.metrics.errors.inc({ code: "UNAUTHORIZED", event: `http:${event}` });
      return { status: 401, body: { error: { code: "UNAUTHORIZED", message: error.message, reason: error.code } } };
    }
    const body = toErrorBody(error);
    deps.metrics.errors.inc({ code: body.code, event: `http:${event}` });
    if (body.code === "INTERNAL")
      deps.logger.error({ err: error, "event.action": `http:${event}`, ...traceFields(request.traceId) }, "API handler failed");
    return { status: HTTP_STATUS[body.code], body: { error: body }, userId };
  }
}

function authenticate(header: string, verifier: TokenVerifier): Promise<Principal> {
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return verifier.verify(match?.[1]);
}

function optionalInteger(value: string | null): number | string | undefined {
  if (value === null || value === "") return undefined;
  // Leave non-numbers as strings so the schema reports them as the wrong type.
  return /^-?\d+$/.test(value) ? Number(value) : value;
}

/** Buffers the request body (up to MAX_BODY_BYTES) and parses it as JSON. Must be set up synchronously. */
function readJsonBody(res: HttpResponse): () => Promise<unknown> {
  const body = new Promise<unknown>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) return reject(new ChatError("TOO_LARGE", `the body must be at most ${MAX_BODY_BYTES} bytes`));
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      if (!isLast) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new ChatError("BAD_REQUEST", "the body must be JSON"));
      }
    });
  });
  body.catch(() => undefined);
  return () => body;
}

function send(res: HttpResponse, status: number, body: unknown, traceId?: string): void {
  res.writeStatus(`${status} ${STATUS_TEXT[status] ?? ""}`).writeHeader("content-type", "application/json");
  if (traceId !== undefined) res.writeHeader("x-request-id", traceId);
  res.end(JSON.stringify(body));
}
