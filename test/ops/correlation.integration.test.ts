/**
 * One client action followed across the logs by its correlation id (ECS `trace.id`,
 * common/trace-id.ts): a send whose projection into Cassandra fails is dead-lettered by the
 * flusher, and the node's line for the send, the flusher's lines for the entry (its rejection
 * and its dead letter) and the dead-letter record all carry the same id. Once over a socket
 * (the node makes the id; its per-event line is at debug level) and once over REST with the
 * client's own X-Request-Id (echoed in the answer; the API's line is at info).
 *
 * Real Redis, Cassandra, nodes and flusher; the flusher is the test entry rejecting-flusher.ts,
 * which rejects the rows of messages with a marked clientId the way the driver rejects a row
 * it cannot encode.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { io as connect, type Socket } from "socket.io-client";
import { startFlusher } from "../../scripts/infra/apps.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { RedisKeys } from "../../storage/keys.js";
import { eventually, httpRequest, request, testStores } from "../fixture.js";
import { faultDir, roomsFor, SHARDS, startFaultCluster, type FaultCluster } from "../faults/cluster.js";
import { readRooms } from "../faults/verify.js";

/** Compiled from test/ops/rejecting-flusher.ts, relative to the repository. */
const REJECTING_FLUSHER = "dist/test/ops/rejecting-flusher.js";
const REJECTED = "reject-";
const SECRET_TEXT = `never-logged-${randomBytes(6).toString("hex")}`;

type LogLine = Record<string, unknown>;

let cluster: FaultCluster;
let dir: string;
let room: string;
let token: string;
let socket: Socket | undefined;

before(async () => {
  const stores = testStores();
  dir = faultDir("correlation");
  cluster = await startFaultCluster({
    dir,
    redisUrl: stores.redisUrl,
    cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
    nodeCount: 1,
    // Debug: the node's line per socket event. One failure is enough to dead-letter an entry.
    env: { LOG_LEVEL: "debug", CHAT_FLUSHER_MAX_ENTRY_FAILURES: "1" },
  });
  // Nothing is sent yet: the rejecting flusher takes the product flusher's place (and is stopped with the cluster).
  await cluster.apps.flusher.stop();
  cluster.apps.flusher = await startFlusher(
    {
      name: "flusher-rejecting",
      env: { HOST: "127.0.0.1", CHAT_FLUSHER_HTTP_PORT: "0", ...cluster.appEnv, CHAT_TEST_REJECT_CLIENT_ID_PREFIX: REJECTED },
      logFile: join(dir, "flusher-rejecting.log"),
    },
    REJECTING_FLUSHER,
  );
  [room] = roomsFor("correlation", 1) as [string];
  token = await cluster.token(`tracer-${randomBytes(3).toString("hex")}`, [room]);
});

after(async () => {
  socket?.disconnect();
  await cluster?.stop();
});

function logLines(file: string): LogLine[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

const nodeLines = () => cluster.apps.nodes.flatMap((node) => logLines(node.process.logFile));
const flusherLines = () => logLines(cluster.apps.flusher.process.logFile);

/** The dead-letter records of the room's shard, as field maps. */
async function deadLetters(): Promise<Record<string, string>[]> {
  const keys = new RedisKeys(cluster.prefix, SHARDS);
  const records = await cluster.redis.xrange(keys.deadLetterStreamOf(keys.streamOf(room)), "-", "+");
  return records.map(([, fields]) => {
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
    return record;
  });
}

/** The dead letter of the message with this id, once the flusher has moved it there. */
function deadLetterOf(messageId: string): Promise<Record<string, string>> {
  return eventually(`the message ${messageId} dead-lettered`, async () =>
    (await deadLetters()).find((record) => (JSON.parse(record["m"] ?? "{}") as { id?: string }).id === messageId),
  );
}

/** The flusher's lines about the entry: its rejection and its dead letter, once both are written. */
async function flusherLinesOf(entryId: string): Promise<{ rejected: LogLine; deadLettered: LogLine }> {
  return eventually(`the flusher's lines about entry ${entryId}`, async () => {
    const lines = flusherLines().filter((line) => line["id"] === entryId);
    const rejected = lines.find((line) => line["message"] === "Cassandra rejected an entry");
    const deadLettered = lines.find((line) => line["message"] === "entry moved to the dead-letter stream");
    return rejected && deadLettered ? { rejected, deadLettered } : undefined;
  });
}

test("a socket send that the flusher dead-letters: the node's line, the flusher's lines and the dead letter share one trace.id", async () => {
  socket = connect(cluster.url, { auth: { token }, reconnection: false, forceNew: true, transports: ["websocket"] });
  await new Promise<void>((resolve, reject) => {
    socket!.once("connect", resolve);
    socket!.once("connect_error", reject);
  });
  const ack = await request<{ ok: boolean; id: string; seq: number }>(socket, "send", {
    room,
    clientId: `${REJECTED}socket`,
    text: SECRET_TEXT,
  });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  // A message beside it that is not rejected: the flusher writes it as usual.
  const good = await request<{ ok: boolean; id: string }>(socket, "send", { room, clientId: "fine-socket", text: SECRET_TEXT });
  assert.equal(good.ok, true, JSON.stringify(good));

  // The node: its line for this send (matched by the message id it answered) names the action.
  const sendLine = await eventually("the node's line for the send", async () =>
    nodeLines().find((line) => line["message"] === "event handled" && line["event.action"] === "send" && line["id"] === ack.id),
  );
  const traceId = sendLine["trace.id"];
  assert.equal(typeof traceId, "string", JSON.stringify(sendLine));
  assert.match(traceId as string, /^[0-9A-Z]{12}$/);

  // The stream entry carried it to the flusher: the dead letter keeps it, its lines log it.
  const record = await deadLetterOf(ack.id);
  assert.equal(record["t"], traceId, `dead letter ${JSON.stringify({ ...record, m: undefined })}`);
  assert.match(record["error"] ?? "", /fault injection/);
  const { rejected, deadLettered } = await flusherLinesOf(record["entry"]!);
  assert.equal(rejected["trace.id"], traceId, JSON.stringify(rejected));
  assert.equal(deadLettered["trace.id"], traceId, JSON.stringify(deadLettered));
  assert.equal(deadLettered["log.level"], "error");
  assert.equal(deadLettered["stream"], record["stream"]);

  // Another action has another id, and its message reached Cassandra.
  const goodLine = nodeLines().find((line) => line["message"] === "event handled" && line["id"] === good.id);
  assert.ok(goodLine && goodLine["trace.id"] !== traceId, JSON.stringify(goodLine));
  await eventually("the good message in Cassandra", async () =>
    (await readRooms(cluster.cassandra, [room])).some((row) => row.id === good.id) ? true : undefined,
  );
});

test("a REST send with the client's X-Request-Id: echoed, and the same id on the node's, the flusher's lines and the dead letter", async () => {
  const clientRequestId = `client-${randomBytes(8).toString("hex")}`;
  const answer = await httpRequest(`${cluster.url}/api/rooms/${encodeURIComponent(room)}/messages`, {
    method: "POST",
    token,
    headers: { "x-request-id": clientRequestId },
    body: { clientId: `${REJECTED}rest`, text: SECRET_TEXT },
  });
  assert.equal(answer.status, 201, answer.text);
  assert.equal(answer.headers.get("x-request-id"), clientRequestId);

  const requestLine = await eventually("the node's line for the request", async () =>
    nodeLines().find((line) => line["message"] === "API request" && line["trace.id"] === clientRequestId),
  );
  assert.equal(requestLine["event.action"], "http:send");
  assert.equal(requestLine["http.response.status_code"], 201);
  assert.equal(requestLine["log.level"], "info");

  const record = await deadLetterOf((answer.body as { id: string }).id);
  assert.equal(record["t"], clientRequestId);
  const { rejected, deadLettered } = await flusherLinesOf(record["entry"]!);
  assert.equal(rejected["trace.id"], clientRequestId);
  assert.equal(deadLettered["trace.id"], clientRequestId);

  // An id the node does not take (too long) is replaced by one of its own, which is answered.
  const replaced = await httpRequest(`${cluster.url}/api/rooms/${encodeURIComponent(room)}/messages`, {
    method: "POST",
    token,
    headers: { "x-request-id": "x".repeat(65) },
    body: { clientId: "fine-rest", text: SECRET_TEXT },
  });
  assert.equal(replaced.status, 201, replaced.text);
  assert.match(replaced.headers.get("x-request-id") ?? "", /^[0-9A-Z]{12}$/);
});

test("no line of any process carries the message text or the token", () => {
  const logs = [...cluster.apps.nodes, cluster.apps.flusher].map((app) => readFileSync(app.process.logFile, "utf8"));
  for (const log of logs) {
    assert.equal(log.includes(SECRET_TEXT), false, "a message text reached a log");
    assert.equal(log.includes(token.split(".")[2]!), false, "a token reached a log");
  }
});
