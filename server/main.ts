/**
 * The socket node's composition root: `node dist/server/main.js`.
 * Reads the configuration, connects Redis and Cassandra, serves socket.io and the REST API on
 * uWebSockets.js, and shuts down in order on SIGTERM/SIGINT.
 */
import { Counter } from "prom-client";
import { EnvReader } from "../common/env.js";
import { createLogger } from "../common/logger.js";
import { createRegistry } from "../common/metrics.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { RoomLog, StoredLatest } from "../storage/cassandra/room-log.js";
import { StoredReceipts } from "../storage/cassandra/receipts.js";
import { Timeline } from "../storage/cassandra/timeline.js";
import { UserRooms } from "../storage/cassandra/user-rooms.js";
import { History } from "../storage/history.js";
import { CoalescingHistory } from "../storage/coalescing-history.js";
import { historyReadMetrics } from "./history-metrics.js";
import { RedisKeys } from "../storage/keys.js";
import { createRedisClient, duplicateClient } from "../storage/redis-client.js";
import { registerStreamBacklogGauge } from "../storage/stream/backlog.js";
import { ChangeBuffer } from "../storage/stream/change-buffer.js";
import { MessageBuffer } from "../storage/stream/producer.js";
import { TokenVerifier } from "./auth/tokens.js";
import { MAX_EMOJI_PER_MESSAGE, MessageChanges } from "./chat/changes.js";
import { EventBudget } from "./chat/event-budget.js";
import type { Principal } from "./chat/principal.js";
import { PriorReceipts } from "./chat/receipts.js";
import { ChatService } from "./chat/service.js";
import { TypingThrottle } from "./chat/typing-throttle.js";
import { BudgetSync, RedisConsumptionCounters } from "./cluster/budget-sync.js";
import { ConnectionRegistry } from "./cluster/connection-registry.js";
import { readServerConfig } from "./config.js";
import { RoomCatchUp } from "./fanout/catch-up.js";
import { installFanout } from "./fanout/install.js";
import { mountApiRoutes } from "./http/api.js";
import { mountDevSignIn } from "./http/dev-sign-in.js";
import { mountNotFound } from "./http/not-found.js";
import { OriginPolicy } from "./http/origin-policy.js";
import { mountPreflight, routeFacade } from "./http/route-facade.js";
import { mountProbeRoutes } from "./http/routes.js";
import { mountWebChat } from "./http/web-chat.js";
import { createNodeMetrics } from "./metrics.js";
import { bindEvent, type EventDefinition } from "./realtime/dispatch.js";
import { deleteEvent } from "./realtime/events/delete.js";
import { editEvent } from "./realtime/events/edit.js";
import { historyEvent } from "./realtime/events/history.js";
import { joinEvent } from "./realtime/events/join.js";
import { leaveEvent } from "./realtime/events/leave.js";
import { presenceEvent } from "./realtime/events/presence.js";
import { reactEvent } from "./realtime/events/react.js";
import { readEvent } from "./realtime/events/read.js";
import { roomsEvent } from "./realtime/events/rooms.js";
import { sendEvent } from "./realtime/events/send.js";
import { typingEvent } from "./realtime/events/typing.js";
import { createRealtime, onConnection } from "./realtime/io.js";
import { Presence } from "./realtime/presence.js";
import { loadNativeUws } from "./realtime/uws.js";
import { createShutdown } from "./shutdown.js";

/** How often a node checks its rooms for messages its subscription missed. */
const ROOM_CATCH_UP_INTERVAL_MS = 2000;

const uws = loadNativeUws();
const config = readServerConfig(new EnvReader());
const logger = createLogger("node").child({ node: config.nodeName });
const { storage } = config;

// @socket.io/redis-adapter publishes without handling the returned promise (dist/index.js,
// broadcast(): `this.pubClient.publish(channel, msg)`), so a broadcast while Redis is
// unreachable rejects unhandled, and Node's default would kill the node with every connection
// on it. Such a broadcast is lost either way (clients recover with `join { since }`): log it.
process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));

// Stores
// A single Redis (CHAT_REDIS_URL) or a Redis Cluster (CHAT_REDIS_CLUSTER_NODES), one factory.
// Fail a command after two reconnect attempts instead of queueing it for long: a send that
// cannot reach Redis should get UNAVAILABLE quickly, so the client retries (same clientId).
// Auto-pipelining writes the commands of one event-loop tick in one syscall: under load that
// is many sends' scripts per write instead of one each.
const onRedisError = (error: Error, client: string) => logger.warn({ err: error, connection: client }, "redis connection error");
const redis = createRedisClient(storage.redis, { name: "redis", onError: onRedisError, maxRetriesPerRequest: 2, autoPipelining: true });
const subscriber = duplicateClient(redis, { name: "redis-subscriber", onError: onRedisError });
const cassandra = createCassandraClient(storage.cassandra);
const keys = new RedisKeys(storage.redis.keyPrefix, storage.stream.shards);
const timeline = new Timeline(cassandra, storage.stream.bucketWidthInMs);
const roomLog = new RoomLog(cassandra, storage.stream.bucketWidthInMs);
// Seqs number messages and changes: a room's latest stored seq is its log's (room-log.ts).
const storedLatest = new StoredLatest(timeline, roomLog);

// Metrics
const metrics = createNodeMetrics(createRegistry("node", config.nodeName));
registerStreamBacklogGauge(metrics.registry, redis, keys);

// Limits every client event and connection draws on (server/chat/limits.ts).
const { limits } = config;
const eventBudget = new EventBudget(limits.eventsPerSecond, limits.eventBurst);
const budgetSync = new BudgetSync({
  budget: eventBudget,
  counters: new RedisConsumptionCounters(redis, keys),
  onError: (error) => logger.warn({ err: error }, "event budget sync failed; budgets are enforced per node until it recovers"),
});
const connections = new ConnectionRegistry(redis, keys, {
  nodeName: config.nodeName,
  limit: limits.connectionsPerUser,
  ttlInMs: config.presenceTtlInMs,
  onError: (error, what) => logger.warn({ err: error, what }, "connection cap: Redis unreachable, connection counted on this node only"),
});

// socket.io on uWS
const app = uws.App();
let draining = false;
const verifier = TokenVerifier.fromConfig(config.jwt, limits);
const originPolicy = new OriginPolicy(config.allowedOrigins, logger, metrics.registry);
const realtimeOptions = {
  nodeName: config.nodeName,
  acceptsClients: () => !draining,
  allowedOrigins: config.allowedOrigins,
  verifier,
  connections,
  authTimeoutInMs: config.authTimeoutInMs,
  maxOutgoingBufferBytes: limits.maxOutgoingBufferBytes,
  admission: config.admission,
  metrics,
  logger,
  onOriginRefused: (origin: string) => originPolicy.refused(origin, "socket.io"),
};
const io = createRealtime(app, realtimeOptions);
// Fan-out: this node's sockets, and the other nodes through Redis.
// Pub/sub loses what is published while a node's subscription is down (a failover): every
// ROOM_CATCH_UP_INTERVAL_MS the node pushes what its rooms' sockets missed (fanout/catch-up.ts).
// join { since } of one room in a reconnect storm: one read per room per window, bounded towards Cassandra.
const history = new CoalescingHistory(new History(redis, keys, timeline, roomLog, storedLatest), {
  ...config.historyReads,
  ...historyReadMetrics(metrics.registry),
});
const catchUp = new RoomCatchUp(io, history, logger, ROOM_CATCH_UP_INTERVAL_MS);
const publisher = installFanout({
  io,
  app,
  pubClient: redis,
  subClient: subscriber,
  keys,
  metrics,
  onMessageDelivered: (room, seq) => catchUp.onDelivered(room, seq),
});

// The chat itself
const presence = new Presence(redis, keys, config.nodeName, config.presenceTtlInMs);
// A repeated clientId older than Redis's receipt window is answered from Cassandra (chat/receipts.ts).
const receipts = new PriorReceipts(
  new StoredReceipts(cassandra, storage.stream.idempotencyTtlInMs),
  {
    windowInMs: storage.stream.receiptWindowInMs,
    idempotencyTtlInMs: storage.stream.idempotencyTtlInMs,
    clientClockSkewInMs: storage.stream.clientClockSkewInMs,
  },
  logger,
);
const chat = new ChatService({
  publisher,
  log: new MessageBuffer(
    redis,
    keys,
    storage.stream,
    storedLatest,
    { perSecond: limits.sendsPerSecond, burst: limits.sendBurst },
    { count: storage.redis.ackReplicas, timeoutInMs: storage.redis.ackTimeoutInMs },
  ),
  history,
  receipts,
  userRooms: new UserRooms(cassandra),
  limits,
  metrics,
  logger,
  eventBudget,
  typing: new TypingThrottle(limits.typingIntervalInMs),
});
const changes = new MessageChanges({
  log: new ChangeBuffer(
    redis,
    keys,
    storage.stream,
    storedLatest,
    roomLog,
    { maxEmojiPerMessage: MAX_EMOJI_PER_MESSAGE },
    { perSecond: limits.sendsPerSecond, burst: limits.sendBurst },
    { count: storage.redis.ackReplicas, timeoutInMs: storage.redis.ackTimeoutInMs },
  ),
  receipts,
  publisher,
  limits,
  logger,
  metrics: {
    changesIn: new Counter({
      name: "chat_changes_in_total",
      help: "Edits, deletes and reactions acknowledged as stored (duplicates excluded)",
      labelNames: ["kind"],
      registers: [metrics.registry],
    }),
  },
});
const bind = (event: EventDefinition) => bindEvent(event, metrics, logger);
const events = [
  bind(joinEvent(chat, presence, publisher)),
  bind(leaveEvent(chat, presence, publisher)),
  bind(sendEvent(chat)),
  bind(historyEvent(chat)),
  bind(typingEvent(chat)),
  bind(presenceEvent(chat, presence)),
  bind(readEvent(chat)),
  bind(roomsEvent(chat)),
  bind(editEvent(changes)),
  bind(deleteEvent(changes)),
  bind(reactEvent(changes)),
];
// Presence updates of disconnecting sockets run after the socket is gone; shutdown waits for
// them before closing Redis.
const presenceUpdates = new Set<Promise<unknown>>();
const admission = {
  admit: (principal: Principal) => chat.admit(principal),
  eventsPerSecond: limits.eventsPerSecond,
  floodDisconnectAfterMs: limits.floodDisconnectAfterMs,
};
onConnection(io, events, { ...realtimeOptions, ...admission }, (principal, rooms) => {
  for (const room of rooms) {
    const update = presence.left(room, principal.userId).then(
      (change) => change && publisher.presence(change),
      (error: unknown) => logger.warn({ err: error, room }, "presence update failed"),
    );
    presenceUpdates.add(update);
    void update.finally(() => presenceUpdates.delete(update));
  }
});
catchUp.start();
presence.start(
  (change) => publisher.presence(change),
  (error) => logger.warn({ err: error }, "presence heartbeat failed"),
);
budgetSync.start();
connections.start();

// HTTP
// Every GET also answers HEAD; the REST API answers browsers from allowed origins (CORS and
// preflight) and refuses the others; whatever no route takes gets a JSON 404.
mountProbeRoutes(routeFacade(app), metrics.registry, {
  isReady: () => !draining && redis.status === "ready" && subscriber.status === "ready",
});
mountPreflight(app, "/api/*", originPolicy);
mountApiRoutes(routeFacade(app, originPolicy), { chat, verifier, metrics, logger });
// The web chat at `/`; its dev sign-in only on the dev secret (never on a production key).
mountWebChat(routeFacade(app));
if (mountDevSignIn(routeFacade(app, originPolicy), config.jwt))
  logger.warn("dev sign-in at /dev/sign-in is on: this node runs on the dev JWT secret");
mountNotFound(app);

let listenSocket: unknown;
const shutdown = createShutdown({
  io,
  logger,
  drainDeadlineInMs: config.drainDeadlineInMs,
  markDraining: () => (draining = true),
  async closeResources() {
    presence.stop();
    catchUp.stop();
    connections.stop();
    await budgetSync.stop();
    if (listenSocket) uws.us_listen_socket_close(listenSocket as never);
    await Promise.allSettled(presenceUpdates);
    void io.close();
    await Promise.allSettled([cassandra.shutdown(), redis.quit(), subscriber.quit()]);
  },
});
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void shutdown().then(() => process.exit(0)));
}

// Cassandra is not needed to accept sends (the write buffer holds them), so a node also starts
// while Cassandra is down; reads answer UNAVAILABLE until the driver connects.
cassandra.connect().catch((error: unknown) => logger.warn({ err: error }, "Cassandra not reachable yet; reads will retry"));
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
