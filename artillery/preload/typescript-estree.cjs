// Preloaded into Artillery's CLI by scripts/load.ts (`node -r`), a workaround for the install:
// `artillery run` loads its AWS bill-of-materials code (lib/platform/aws-ecs/legacy/bom.js →
// dependency-tree → detective-typescript → @typescript-eslint/typescript-estree) even for
// local runs, and npm hoisted typescript-estree to the top of node_modules, where
// `require("typescript")` finds this project's TypeScript 7, which has no JavaScript API
// (TypeError: Cannot read properties of undefined (reading 'BarBarToken')). Here
// typescript-estree gets the TypeScript 5 that detective-typescript itself depends on.
// Remove once package.json pins it (npm "overrides"), see artillery/README.md.
"use strict";
const Module = require("node:module");
const path = require("node:path");

function typescriptOfDetective() {
  try {
    const detective = path.dirname(require.resolve("detective-typescript/package.json"));
    const resolved = require.resolve("typescript", { paths: [detective] });
    const major = Number(require(path.join(path.dirname(resolved), "..", "package.json")).version.split(".")[0]);
    return major < 7 ? resolved : undefined;
  } catch {
    return undefined;
  }
}

const typescript5 = typescriptOfDetective();
if (typescript5) {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    if (request === "typescript" && parent && parent.filename && parent.filename.includes(`${path.sep}@typescript-eslint${path.sep}typescript-estree${path.sep}`)) {
      return typescript5;
    }
    return resolve.call(this, request, parent, ...rest);
  };
}
