/**
 * A raw Engine.IO long-polling handshake with chosen headers (Origin), through node:http so no
 * header is filtered the way a browser-like fetch might.
 */
import { request } from "node:http";

export interface PollingAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** GET /socket.io/?EIO=4&transport=polling: "0{...}" opens a session, an error status refuses it. */
export function pollingHandshake(baseUrl: string, headers: Record<string, string> = {}, timeoutInMs = 10_000): Promise<PollingAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}/socket.io/?EIO=4&transport=polling`, { headers, timeout: timeoutInMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutInMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
