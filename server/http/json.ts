/** JSON answers on uWS, for every route that is not socket.io: the error shape of docs/protocol.md. */
import type { HttpResponse } from "uWebSockets.js";

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  413: "Payload Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ""}`.trimEnd();
}

/** Writes a JSON answer; for a HEAD request the same headers and Content-Length, no body. */
export function sendJson(res: HttpResponse, status: number, body: unknown, isHead = false): void {
  const text = JSON.stringify(body);
  res.writeStatus(statusLine(status)).writeHeader("content-type", "application/json");
  if (isHead) endHead(res, Buffer.byteLength(text));
  else res.end(text);
}

/**
 * Ends a HEAD answer: the length the GET's body would have, no body. uWS's `end(body)` would send
 * the body on HEAD too (breaking the connection's framing), and `endWithoutBody(length)` leaves
 * the response unfinished (uWS then aborts the process): the header is written by hand.
 */
export function endHead(res: HttpResponse, contentLength: number): void {
  res.writeHeader("content-length", String(contentLength));
  // The native binding reads an explicit `undefined` as a reported length: pass no arguments.
  res.endWithoutBody();
}

export function sendError(res: HttpResponse, status: number, code: string, message: string, isHead = false): void {
  sendJson(res, status, { error: { code, message } }, isHead);
}
