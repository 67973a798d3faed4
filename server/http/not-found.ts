/**
 * The last route: any path no other route matched answers 404 JSON (HEAD: headers only). Without
 * it uWS closes the connection without a reply and the gateway turns that into a 502.
 * Registered last; uWS prefers every more specific route over this wildcard anyway.
 */
import type { TemplatedApp } from "uWebSockets.js";
import { sendError } from "./json.js";

export function mountNotFound(app: TemplatedApp): void {
  app.any("/*", (res, req) => {
    const isHead = req.getMethod() === "head";
    sendError(res, 404, "NOT_FOUND", `nothing at ${req.getUrl().slice(0, 200)}`, isHead);
  });
}
