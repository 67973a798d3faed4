/**
 * The web chat at `GET /` (docs/protocol.md v1.1 "HTTP"): the page and its bundle, built by
 * `npm run build` into dist/web/ (web/build.mjs), read once at boot and served from memory,
 * gzip-compressed when the browser accepts it. A node built without the page answers `/` with
 * a JSON 404 saying so, like any unknown path.
 */
import { existsSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import type { TemplatedApp } from "uWebSockets.js";
import { sendError } from "./json.js";

/** dist/web/, next to dist/server/ (this file runs as dist/server/http/web-chat.js). */
const WEB_DIR = new URL("../../web/", import.meta.url);

const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

interface Asset {
  type: string;
  plain: Buffer;
  gzipped: Buffer;
}

export function mountWebChat(app: TemplatedApp, dir: URL = WEB_DIR): boolean {
  const assets = new Map<string, Asset>();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const location = new URL(file, dir);
    if (!existsSync(location)) continue;
    const plain = readFileSync(location);
    assets.set(path, { type, plain, gzipped: gzipSync(plain, { level: 9 }) });
  }
  if (assets.size !== Object.keys(FILES).length) {
    app.get("/", (res) => sendError(res, 404, "NOT_FOUND", "the web chat is not built on this node (npm run build)"));
    return false;
  }
  for (const [path, asset] of assets) {
    app.get(path, (res, req) => {
      const gzip = /\bgzip\b/.test(req.getHeader("accept-encoding"));
      res.writeStatus("200 OK").writeHeader("content-type", asset.type).writeHeader("vary", "Accept-Encoding");
      // Small files, rebuilt with the node: always revalidate rather than version the names.
      res.writeHeader("cache-control", "no-cache").writeHeader("x-content-type-options", "nosniff");
      if (path === "/")
        res.writeHeader(
          "content-security-policy",
          "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors *",
        );
      if (gzip) res.writeHeader("content-encoding", "gzip");
      res.end(gzip ? asset.gzipped : asset.plain);
    });
  }
  return true;
}
