/**
 * Integration-test fixture: a real cluster (socket nodes, flusher, HAProxy) started against
 * the stores the test harness (scripts/test.ts) runs, under a Redis key prefix of its own.
 * Each test file is its own process, so each has its own uWS server (one per process).
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Cluster, Redis } from "ioredis";
import { io as connect, type Socket, type SocketOptions, type ManagerOptions } from "socket.io-client";
import { createCassandraClient, type CassandraClient } from "../storage/cassandra/client.js";
import { freePort } from "../scripts/infra/process.js";
import { cassandraConfigFor, startApps, type Apps } from "../scripts/infra/stack.js";
import type { AppProcess } from "../scripts/infra/apps.js";
import { mintToken, type TokenOptions } from "../scripts/lib/tokens.js";

export const TEST_JWT_SECRET = "test-secret-0123456789abcdef";

export interface TestStores {
  /** The single Redis; reading it throws when the harness gave only a Redis Cluster. */
  redisUrl: string;
  /** host:port seeds of the Redis Cluster in the harness's cluster mode (CHAT_TEST_REDIS=cluster). */
  redisClusterNodes: string[] | undefined;
  cassandraContactPoint: string;
  keyspace: string;
}

export function testStores(): TestStores {
  const redisUrl = process.env.CHAT_TEST_REDIS_URL;
  const redisClusterNodes = process.env.CHAT_TEST_REDIS_CLUSTER_NODES?.split(",").filter(Boolean);
  const cassandraContactPoint = process.env.CHAT_TEST_CASSANDRA;
  const keyspace = process.env.CHAT_TEST_KEYSPACE;
  if ((!redisUrl && !redisClusterNodes?.length) || !cassandraContactPoint || !keyspace) {
    throw new Error("integration tests need the stores the harness starts: run them with `npm test` (scripts/test.ts)");
  }
  return {
    get redisUrl(): string {
      if (!redisUrl)
        throw new Error("this test needs a single Redis (CHAT_TEST_REDIS_URL), and the harness runs in Redis Cluster mode only");
      return redisUrl;
    },
    redisClusterNodes: redisClusterNodes?.length ? redisClusterNodes : undefined,
    cassandraContactPoint,
    keyspace,
  };
}

/** A key prefix no other test (or run) uses. */
export function uniquePrefix(): string {
  return `t${randomBytes(5).toString("hex")}:`;
}

export interface TestCluster {
  apps: Apps;
  url: string;
  prefix: string;
  stores: TestStores;
  /** A Redis client on the same server or cluster, for checks (keys must be prefixed by hand). */
  redis: Redis | Cluster;
  cassandra: CassandraClient;
  token(userId: string, rooms?: string[], options?: Partial<TokenOptions>): Promise<string>;
  /** A socket.io client through the gateway; resolves once connected. */
  client(token: string, options?: Partial<ManagerOptions & SocketOptions>): Promise<Socket>;
  stop(): Promise<void>;
  /**
   * SIGTERM node `index` (it drains), wait for it to exit, and start it again under the same
   * name on the same port, so the gateway's config stays valid. Resolves once it listens;
   * `apps.nodes[index]` is the new process.
   */
  restartNode(index: number): Promise<AppProcess>;
  /** Stops the flusher if it runs and starts a new one; `apps.flusher` is the new process. */
  restartFlusher(): Promise<AppProcess>;
  /** The node's own base URL, bypassing the gateway (probes of one node). */
  nodeUrl(index: number): string;
  /** An HTTP request through the gateway, with a Bearer token when given; JSON bodies are parsed. */
  http(path: string, options?: HttpOptions): Promise<HttpAnswer>;
}

export interface HttpOptions {
  method?: string;
  token?: string;
  /** Serialized as JSON unless it is a string (sent as is, for malformed-body tests). */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response says application/json, else the text; its shape is what the tests assert. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
}

export interface TestClusterOptions {
  nodeCount?: number;
  env?: NodeJS.ProcessEnv;
}

export async function startTestCluster({ nodeCount = 2, env = {} }: TestClusterOptions = {}): Promise<TestCluster> {
  const stores = testStores();
  const prefix = uniquePrefix();
  const logDir = join(process.env.CHAT_TEST_LOG_DIR ?? tmpdir(), prefix.slice(0, -1));
  // Cluster mode acknowledges a send once a replica has it, as `CHAT_LOCAL_REDIS=cluster npm start` does.
  const redisEnv: NodeJS.ProcessEnv = stores.redisClusterNodes
    ? { CHAT_REDIS_CLUSTER_NODES: stores.redisClusterNodes.join(","), CHAT_ACK_REPLICAS: "1" }
    : { CHAT_REDIS_URL: stores.redisUrl };
  const appEnv: NodeJS.ProcessEnv = {
    ...redisEnv,
    CHAT_REDIS_PREFIX: prefix,
    CHAT_CASSANDRA_CONTACT_POINTS: stores.cassandraContactPoint,
    CHAT_CASSANDRA_KEYSPACE: stores.keyspace,
    CHAT_JWT_SECRET: TEST_JWT_SECRET,
    CHAT_DRAIN_DEADLINE_MS: "1000",
    LOG_LEVEL: "info",
    ...env,
  };
  const apps = await startApps({ dir: logDir, nodeCount, gatewayPort: await freePort(), env: appEnv });
  const redis = stores.redisClusterNodes ? new Cluster(stores.redisClusterNodes.map(parseHostPort)) : new Redis(stores.redisUrl);
  redis.on("error", () => undefined); // a failing check command rejects; the connection's own errors are not the test's
  const cassandra = createCassandraClient(cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace));
  const sockets: Socket[] = [];
  return {
    apps,
    url: apps.gateway.url,
    prefix,
    stores,
    redis,
    cassandra,
    token: (userId, rooms = [], options = {}) => mintToken({ secret: TEST_JWT_SECRET, userId, rooms, ...options }),
    async client(token, options = {}) {
      const socket = connect(apps.gateway.url, { auth: { token }, reconnection: false, forceNew: true, ...options });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      return socket;
    },
    async stop() {
      for (const socket of sockets) socket.disconnect();
      await apps.stop();
      redis.disconnect();
      await cassandra.shutdown();
    },
    restartNode: (index) => apps.restartNode(index),
    restartFlusher: () => apps.restartFlusher(),
    nodeUrl(index) {
      const node = apps.nodes[index];
      if (!node) throw new Error(`no node ${index}`);
      return `http://127.0.0.1:${node.port}`;
    },
    http: (path, options) => httpRequest(`${apps.gateway.url}${path}`, options),
  };
}

function parseHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** An HTTP request with an optional Bearer token; the answer's JSON body parsed when it is JSON. */
export async function httpRequest(url: string, { method = "GET", token, body, headers = {} }: HttpOptions = {}): Promise<HttpAnswer> {
  const requestHeaders: Record<string, string> = { ...headers };
  if (token !== undefined) requestHeaders["authorization"] = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    requestHeaders["content-type"] ??= "application/json";
  }
  const response = await fetch(url, { method, headers: requestHeaders, body: payload, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get("content-type") ?? "").includes("application/json")) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // Left as text: the test's assertion on the body shows what came back.
    }
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

/** Emits with an ack and resolves with the ack's value (socket.io's emitWithAck, with a timeout). */
export function request<T = Record<string, unknown>>(socket: Socket, event: string, payload?: unknown): Promise<T> {
  return socket.timeout(10_000).emitWithAck(event, payload) as Promise<T>;
}

/** Resolves with the next `event` the socket receives that satisfies `match`. */
export function nextEvent<T>(socket: Socket, event: string, match: (value: T) => boolean = () => true, timeoutInMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no ${event} within ${timeoutInMs} ms`));
    }, timeoutInMs);
    function listener(value: T) {
      if (!match(value)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(value);
    }
    socket.on(event, listener);
  });
}

/** The node a client's engine.io session lives on: its session ids start with the node name. */
export function nodeOf(socket: Socket): string {
  const sid = socket.io.engine.id;
  return sid.slice(0, sid.indexOf("-"));
}

/** Polls `probe` until it returns a value, for effects that happen asynchronously (the flusher). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutInMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutInMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
