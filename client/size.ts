/**
 * `npm run sdk:size`: the SDK's size as a browser downloads it. Bundles client/index.ts with
 * socket.io-client inside (esbuild: ESM, browser, minified), gzips it at level 9 and prints
 * both figures, next to socket.io-client bundled alone the same way for reference. Exits 1
 * when the SDK is over its budget (20 KB gzipped, issue 15).
 */
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { REPO_ROOT } from "../scripts/infra/paths.js";

const BUDGET_IN_BYTES = 20 * 1024;

async function bundleSize(entry: { path: string } | { contents: string }): Promise<{ minified: number; gzipped: number }> {
  const result = await build({
    ...("path" in entry ? { entryPoints: [entry.path] } : { stdin: { contents: entry.contents, resolveDir: REPO_ROOT, loader: "ts" } }),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    write: false,
    legalComments: "none",
    logLevel: "warning",
  });
  const code = result.outputFiles[0]!.contents;
  return { minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const sdk = await bundleSize({ path: join(REPO_ROOT, "client/index.ts") });
const socketIo = await bundleSize({ contents: 'export { io } from "socket.io-client";' });
console.log(
  `SDK (client/index.ts + socket.io-client), esbuild ESM browser minified: ${kb(sdk.minified)}, gzip -9: ${kb(sdk.gzipped)} (${sdk.gzipped} B; budget ${kb(BUDGET_IN_BYTES)})`,
);
console.log(
  `socket.io-client alone, bundled the same way: ${kb(socketIo.minified)}, gzip -9: ${kb(socketIo.gzipped)}; the SDK adds ${kb(sdk.gzipped - socketIo.gzipped)}`,
);
if (sdk.gzipped > BUDGET_IN_BYTES) {
  console.error(`over budget by ${kb(sdk.gzipped - BUDGET_IN_BYTES)}`);
  process.exitCode = 1;
}
