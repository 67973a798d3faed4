import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnSync } from "node:child_process";

// A child process: createLogger writes to stdout, which is what a container runtime ships.
test("log lines carry the ECS fields Elasticsearch indexes, without secrets or message texts", () => {
  const script = `
    import { createLogger } from ${JSON.stringify(new URL("./logger.js", import.meta.url).href)};
    const logger = createLogger("flusher");
    logger.info({ room: "r1", count: 3, token: "eyJ.secret.sig", text: "hello world", nested: { text: "x", token: "y" } }, "batch flushed");
    logger.error({ err: new Error("boom") }, "write failed");
  `;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, CHAT_FLUSHER_NAME: "flusher-7", LOG_LEVEL: "info" },
    encoding: "utf8",
  });
  assert.equal(child.status, 0, child.stderr);
  const [info, error] = child.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.ok(info && error);
  assert.equal(typeof info["@timestamp"], "string");
  assert.ok(!Number.isNaN(Date.parse(info["@timestamp"] as string)));
  assert.equal(info["log.level"], "info");
  assert.equal(info.message, "batch flushed");
  // ECS dotted names, as ecs-pino-format writes them (Elasticsearch expands them into objects).
  assert.match(info["ecs.version"] as string, /^\d+\.\d+\.\d+$/);
  assert.equal(info["log.logger"], "flusher");
  assert.equal(info["service.name"], "chat-cluster");
  assert.equal(info["service.node.name"], "flusher-7");
  assert.ok((info["process.pid"] as number) > 0);
  assert.equal(typeof info["host.hostname"], "string");
  assert.equal(info.room, "r1");
  assert.equal(info.count, 3);
  // Secrets and message texts are redacted, at the top level and one level down.
  assert.equal(info.token, "[redacted]");
  assert.equal(info.text, "[redacted]");
  assert.deepEqual(info.nested, { text: "[redacted]", token: "[redacted]" });
  assert.equal(child.stdout.includes("eyJ.secret.sig"), false);
  assert.equal(child.stdout.includes("hello world"), false);
  // Errors become ECS error fields.
  assert.equal(error["log.level"], "error");
  assert.deepEqual(Object.keys(error.error as object).sort(), ["message", "stack_trace", "type"]);
  assert.equal((error.error as { message: string }).message, "boom");
});
