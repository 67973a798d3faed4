/**
 * The architecture check (`npm run lint:arch`): which layer may import which. A layer that
 * imports upward fails CI. Layers: common ← storage ← server/chat (the domain) ← the transports
 * (server/realtime, server/http, server/fanout) ← server/main.ts; the tooling (test, bench,
 * artillery, scripts) may import the product, never the other way round.
 */
const PRODUCT = "^(server|storage|common|gateway)/";
const NOT_A_TEST = "\\.test\\.ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "domain-knows-no-transport",
      comment: "server/chat is the domain: it defines the interfaces it needs; socket.io, uWS, REST and fan-out adapt to it.",
      severity: "error",
      from: { path: "^server/chat/" },
      to: {
        path: [
          "^server/(realtime|http|fanout)/",
          "^server/main\\.ts$",
          "node_modules/(socket\\.io|socket\\.io-adapter|engine\\.io|uWebSockets\\.js|@socket\\.io)/",
        ],
      },
    },
    {
      name: "storage-knows-no-server",
      comment: "storage/ is used by the nodes and the flusher alike; it must not depend on the socket node.",
      severity: "error",
      from: { path: "^storage/" },
      to: { path: "^server/" },
    },
    {
      name: "common-is-a-leaf",
      comment: "common/ holds what every process shares (env, logger, metrics) and depends on none of them.",
      severity: "error",
      from: { path: "^common/" },
      to: { path: "^(server|storage|gateway|scripts)/" },
    },
    {
      name: "product-imports-no-tooling",
      comment: "The product (what the image ships) imports nothing from tests, the bench or the load tests.",
      severity: "error",
      from: { path: PRODUCT, pathNot: NOT_A_TEST },
      to: { path: "^(test|bench|artillery)/" },
    },
    {
      name: "no-circular",
      comment:
        "A cycle makes the layers meaningless and the start-up order fragile. One that runs only through type imports is erased at compile time and allowed.",
      severity: "error",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^dist/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js"],
    },
  },
};
