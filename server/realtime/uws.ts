/**
 * Loads uWebSockets.js and refuses to run on its JavaScript fallback.
 *
 * The package we use (npm:@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0) ships native
 * binaries for Node ABI 93/108/115; on any other Node major it quietly falls back to a `ws`
 * based shim that is many times slower. Node 20 (ABI 115) is pinned in package.json; this
 * check turns a silent slowdown into a failed start.
 */
import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";

const require = createRequire(import.meta.url);

export function loadNativeUws(): typeof Uws {
  const uws = require("uWebSockets.js") as typeof Uws;
  const nativeLoaded = Object.keys(require.cache).some((path) => /uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/.test(path));
  if (!nativeLoaded) {
    throw new Error(
      `uWebSockets.js did not load its native binary on Node ${process.version} (ABI ${process.versions.modules}); ` +
        "it would run on its slow JavaScript fallback. Use Node 20, and do not set UWS_USE_FALLBACK.",
    );
  }
  return uws;
}
