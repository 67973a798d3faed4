/**
 * A view of the uWS app for mounting routes, so route modules stay as they are and every
 * answer is a clear one:
 * - each `get` route also answers `HEAD` (same status and headers, Content-Length, no body);
 * - with an OriginPolicy (the REST API), a browser's request from an allowed origin gets the
 *   CORS headers on whatever the route answers, and one from another origin is refused with
 *   403 JSON before the route runs (logged and counted by the policy).
 * Requests without an Origin (servers, bots, curl) pass as before.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import { endHead, sendError } from "./json.js";
import type { OriginPolicy } from "./origin-policy.js";

type Handler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;
type Pattern = Parameters<TemplatedApp["get"]>[0];

const ROUTE_METHODS = new Set(["get", "post", "put", "patch", "del", "any"]);

/** Headers a cross-origin page may read besides the simple ones: the backoff hint, the request's correlation id (api.ts). */
const EXPOSED_HEADERS = "retry-after, x-request-id";

export function routeFacade(app: TemplatedApp, cors?: OriginPolicy): TemplatedApp {
  const guard = (handler: Handler, isHead: boolean): Handler => {
    if (!cors && !isHead) return handler;
    return (res, req) => {
      const origin = req.getHeader("origin");
      if (cors && origin !== "" && !cors.allows(origin, req.getHeader("host"))) {
        cors.refused(origin, "http");
        return sendError(res, 403, "FORBIDDEN", "this page's origin may not call the API (not in the server's allowed origins)", isHead);
      }
      return handler(decorate(res, { corsOrigin: cors && origin !== "" ? origin : undefined, isHead }), req);
    };
  };
  const facade: TemplatedApp = new Proxy(app, {
    get(target, property, receiver) {
      if (typeof property !== "string" || !ROUTE_METHODS.has(property)) {
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (pattern: Pattern, handler: Handler) => {
        const register = target[property as "get"].bind(target);
        register(pattern, guard(handler, false));
        if (property === "get") target.head(pattern, guard(handler, true));
        return facade;
      };
    },
  });
  return facade;
}

/**
 * Wraps a response: CORS headers go out right after the status line (uWS writes the status
 * first; a header before it implies 200), and for HEAD `end(body)` sends only its length.
 * Every method that returns the response returns the wrapper, so chained calls stay wrapped.
 */
function decorate(res: HttpResponse, { corsOrigin, isHead }: { corsOrigin: string | undefined; isHead: boolean }): HttpResponse {
  let corsWritten = corsOrigin === undefined;
  const writeCors = () => {
    if (corsWritten || corsOrigin === undefined) return;
    corsWritten = true;
    res
      .writeHeader("access-control-allow-origin", corsOrigin)
      .writeHeader("vary", "Origin")
      .writeHeader("access-control-expose-headers", EXPOSED_HEADERS);
  };
  const wrapper: HttpResponse = new Proxy(res, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        if (property === "writeHeader" || property === "end" || property === "endWithoutBody") writeCors();
        let result: unknown;
        if (property === "end" && isHead) {
          const body = args[0];
          const length =
            body === undefined
              ? 0
              : typeof body === "string"
                ? Buffer.byteLength(body)
                : (body as ArrayBufferLike | ArrayBufferView).byteLength;
          endHead(target, length);
          result = target;
        } else {
          result = method.apply(target, args);
        }
        if (property === "writeStatus") writeCors();
        return result === target ? wrapper : result;
      };
    },
  });
  return wrapper;
}

/** `OPTIONS` preflight for the routes under `pattern`: 204 with the CORS grant for an allowed origin, 403 JSON otherwise. */
export function mountPreflight(app: TemplatedApp, pattern: Pattern, policy: OriginPolicy): void {
  app.options(pattern, (res, req) => {
    const origin = req.getHeader("origin");
    if (origin === "" || !policy.allows(origin, req.getHeader("host"))) {
      if (origin !== "") policy.refused(origin, "http");
      return sendError(
        res,
        403,
        "FORBIDDEN",
        origin === "" ? "a preflight needs an Origin" : "this page's origin may not call the API (not in the server's allowed origins)",
      );
    }
    const requested = req.getHeader("access-control-request-headers");
    res
      .writeStatus("204 No Content")
      .writeHeader("access-control-allow-origin", origin)
      .writeHeader("vary", "Origin")
      .writeHeader("access-control-allow-methods", "GET, HEAD, POST, OPTIONS")
      .writeHeader("access-control-allow-headers", requested === "" ? "authorization, content-type" : requested)
      .writeHeader("access-control-max-age", "600")
      .endWithoutBody(0);
  });
}
