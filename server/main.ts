/**
 * The socket node's composition root: `node dist/server/main.js`.
 * Reads the configuration, connects Redis and Cassandra, serves socket.io on uWebSockets.js,
 * and shuts down in order on SIGTERM/SIGINT.
 */
import { Redis } from "ioredis";
import { EnvReader } from "../common/env.js";
import { createLogger } from "../common/logger.js";
import { createRegistry } from "../common/metrics.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { Timeline } from "../storage/cassandra/timeline.js";
import { History } from "../storage/history.js";
import { RedisKeys } from "../storage/keys.js";
import { MessageBuffer } from "../storage/stream/producer.js";
import { readServerConfig } from "./config.js";
import { redisFanout } from "./fanout/redis-adapter.js";
import { mountProbeRoutes } from "./http/routes.js";
import { createNodeMetrics } from "./metrics.js";
import { TokenVerifier } from "./realtime/auth.js";
import { bindEvent } from "./realtime/dispatch.js";
import { historyEvent, joinEvent, leaveEvent } from "./realtime/events/rooms.js";
import { sendEvent } from "./realtime/events/send.js";
import { createRealtime, onConnection } from "./realtime/io.js";
import { loadNativeUws } from "./realtime/uws.js";
import { createShutdown } from "./shutdown.js";

const uws = loadNativeUws();
const config = readServerConfig(new EnvReader());
const logger = createLogger("node").child({ node: config.nodeName });
const { storage } = config;

const redis = new Redis(storage.redis.url);
const subscriber = redis.duplicate();
for (const [name, client] of [["redis", redis], ["redis-subscriber", subscriber]] as const) {
  client.on("error", (error) => logger.warn({ err: error, client: name }, "redis connection error"));
}
const cassandra = createCassandraClient(storage.cassandra);
const keys = new RedisKeys(storage.redis.keyPrefix, storage.stream.shards);
const timeline = new Timeline(cassandra, storage.stream.bucketWidthInMs);
const buffer = new MessageBuffer(redis, keys, storage.stream, timeline);
const history = new History(redis, keys, timeline);

const metrics = createNodeMetrics(createRegistry("node", config.nodeName));
const app = uws.App();
let draining = false;
mountProbeRoutes(app, metrics.registry, { isReady: () => !draining && redis.status === "ready" && subscriber.status === "ready" });

const realtimeOptions = { nodeName: config.nodeName, allowedOrigins: config.allowedOrigins, verifier: TokenVerifier.fromConfig(config.jwt), metrics, logger };
const io = createRealtime(app, realtimeOptions);
io.adapter(redisFanout(redis, subscriber, storage.redis.keyPrefix));
const events = [
  bindEvent(joinEvent(history, logger), metrics, logger),
  bindEvent(leaveEvent(), metrics, logger),
  bindEvent(sendEvent(io, buffer, config.limits, metrics, logger), metrics, logger),
  bindEvent(historyEvent(history, logger), metrics, logger),
];
onConnection(io, events, realtimeOptions);

let listenSocket: unknown;
const shutdown = createShutdown({
  io,
  logger,
  drainDeadlineInMs: config.drainDeadlineInMs,
  markDraining: () => (draining = true),
  async closeResources() {
    if (listenSocket) uws.us_listen_socket_close(listenSocket as never);
    io.close();
    await Promise.allSettled([cassandra.shutdown(), redis.quit(), subscriber.quit()]);
  },
});
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void shutdown().then(() => process.exit(0)));
}

// Connect Cassandra before accepting clients: history and seq seeding need it. The driver
// keeps reconnecting on its own after that.
await cassandra.connect();
app.listen(config.host, config.port, (socket) => {
  if (!socket) {
    logger.fatal({ port: config.port }, "could not listen");
    process.exit(1);
  }
  listenSocket = socket;
  const port = uws.us_socket_local_port(socket);
  logger.info({ port, keyspace: storage.cassandra.keyspace, prefix: storage.redis.keyPrefix }, "listening");
  process.send?.({ type: "listening", port });
});
