/**
 * The plain Artillery example (artillery/examples/socketio.yml) runs as a load engineer would run
 * it: tokens minted by `npm run token -- --count N --csv FILE`, then `artillery run` with the
 * built-in socketio engine and no preload. Every VU must finish, every send be acknowledged `ok`
 * (the script's `acknowledge.match`), and the room must hold exactly the sends made, each once.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { REPO_ROOT } from "../../scripts/infra/paths.js";
import { request, startTestCluster, TEST_JWT_SECRET, uniquePrefix, type TestCluster } from "../fixture.js";

const run = promisify(execFile);
/** As in the example: 10 s at 2 arrivals/s, and each VU joins then sends 3 times. */
const VUS = 20;
const SENDS_PER_VU = 3;

let cluster: TestCluster;
before(async () => {
  cluster = await startTestCluster();
});
after(async () => {
  await cluster?.stop();
});

test("the plain socketio example runs without a preload, with per-user tokens from a CSV, and every send is stored once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "artillery-example-"));
  const room = `example-${uniquePrefix().slice(0, -1)}`;
  const csv = join(dir, "tokens.csv");
  const env = { ...process.env, CHAT_JWT_SECRET: TEST_JWT_SECRET };
  await run(
    process.execPath,
    [join(REPO_ROOT, "dist/scripts/token.js"), "--count", String(VUS), "--csv", csv, "--prefix", `${room}-u`, "--rooms", room],
    { env },
  );
  assert.equal(readFileSync(csv, "utf8").trim().split("\n").length, VUS + 1, "a header and one row per user");

  const output = join(dir, "report.json");
  await run(
    process.execPath,
    [
      join(REPO_ROOT, "node_modules/artillery/bin/run"),
      "run",
      "--target",
      cluster.url,
      "--variables",
      JSON.stringify({ room }),
      "--payload",
      csv,
      "--output",
      output,
      join(REPO_ROOT, "artillery/examples/socketio.yml"),
    ],
    { env: { ...env, ARTILLERY_DISABLE_TELEMETRY: "true" }, maxBuffer: 16 * 1024 * 1024 },
  ).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`artillery run failed: ${error.message}\n${error.stdout ?? ""}\n${error.stderr ?? ""}`);
  });

  const counters = (JSON.parse(readFileSync(output, "utf8")) as { aggregate: { counters: Record<string, number> } }).aggregate.counters;
  assert.equal(counters["vusers.created"], VUS);
  assert.equal(counters["vusers.completed"], VUS);
  assert.equal(counters["vusers.failed"] ?? 0, 0);
  assert.equal(counters["socketio.emit"], VUS * (1 + SENDS_PER_VU));

  const reader = await cluster.client(await cluster.token(`${room}-reader`, [room]));
  const joined = await request<{ ok: boolean; seq: number; messages: { from: string; clientId: string }[] }>(reader, "join", {
    room,
    since: 0,
  });
  assert.equal(joined.ok, true);
  assert.equal(joined.seq, VUS * SENDS_PER_VU, "every acknowledged send, and nothing else, is in the room's log");
  assert.equal(
    new Set(joined.messages.map((message) => `${message.from}|${message.clientId}`)).size,
    VUS * SENDS_PER_VU,
    "each send has its own clientId",
  );
  assert.equal(new Set(joined.messages.map((message) => message.from)).size, VUS, "each VU connected with its own user's token");
});
