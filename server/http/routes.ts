/** Health, readiness and metrics on the node's uWS app (docs/protocol.md "HTTP API"). */
import type { TemplatedApp, HttpResponse } from "uWebSockets.js";
import type { Registry } from "prom-client";

export interface ProbeState {
  /** True while the node accepts new clients: storage reachable and not draining. */
  isReady(): boolean;
}

export function mountProbeRoutes(app: TemplatedApp, registry: Registry, probe: ProbeState): void {
  app.get("/healthz", (res) => {
    res.writeHeader("content-type", "text/plain").end("ok");
  });
  app.get("/readyz", (res) => {
    const ready = probe.isReady();
    res
      .writeStatus(ready ? "200 OK" : "503 Service Unavailable")
      .writeHeader("content-type", "text/plain")
      .end(ready ? "ready" : "not ready");
  });
  app.get("/metrics", (res) => {
    respondLater(res, async () => ({ contentType: registry.contentType, body: await registry.metrics() }));
  });
}

/**
 * uWS responses answered asynchronously must register onAborted, must not be touched after an
 * abort, and should be corked so headers and body go out in one write.
 */
export function respondLater(res: HttpResponse, produce: () => Promise<{ status?: string; contentType: string; body: string }>): void {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  produce().then(
    ({ status = "200 OK", contentType, body }) => {
      if (!aborted) res.cork(() => res.writeStatus(status).writeHeader("content-type", contentType).end(body));
    },
    () => {
      if (!aborted) res.cork(() => res.writeStatus("500 Internal Server Error").end());
    },
  );
}
