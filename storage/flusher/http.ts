/** The flusher's small HTTP surface: /healthz, /readyz and /metrics for probes and Prometheus. */
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export function startFlusherHttp(port: number, registry: Registry, isReady: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") return void res.writeHead(405).end();
    if (path === "/healthz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    if (path === "/readyz") {
      const ready = isReady();
      return void res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready" : "not ready");
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "0.0.0.0", () => resolve(server));
  });
}
