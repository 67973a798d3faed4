/**
 * Plain HTTP requests through node:http for the HTTP-answer tests: any method (HEAD, OPTIONS),
 * any header (Origin), and the body exactly as it came, so "no body" can be asserted.
 */
import { request } from "node:http";

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function rawRequest(
  url: string,
  { method = "GET", headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {},
  timeoutInMs = 10_000,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, timeout: timeoutInMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutInMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Parses an error answer's JSON body `{ error: { code, message } }`; throws with the body when it is not one. */
export function errorCodeOf(answer: RawAnswer): string {
  const parsed: unknown = JSON.parse(answer.body);
  const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
  if (typeof error?.code !== "string" || typeof error.message !== "string") throw new Error(`not an error body: ${answer.body}`);
  return error.code;
}
