// `npm run build` step: bundles the web chat (web/app.ts with the SDK and socket.io-client
// inside) with esbuild into dist/web/, next to the page and its stylesheet, where the nodes
// serve them from (server/http/web-chat.ts). Prints the sizes a browser downloads.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "dist", "web");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "app.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(here, "index.html"), join(out, "index.html"));
copyFileSync(join(here, "app.css"), join(out, "app.css"));
if (process.argv.includes("--sizes")) {
  for (const file of ["index.html", "app.css", "app.js"]) {
    const bytes = readFileSync(join(out, file));
    console.log(
      `web/${file}: ${(bytes.byteLength / 1024).toFixed(1)} KB, gzip -9 ${(gzipSync(bytes, { level: 9 }).byteLength / 1024).toFixed(1)} KB`,
    );
  }
}
