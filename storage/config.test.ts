import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, EnvReader } from "../common/env.js";
import { readStorageConfig } from "./config.js";

const read = (env: Record<string, string>) => readStorageConfig(new EnvReader(env)).redis;

test("single Redis by default; cluster seed nodes when CHAT_REDIS_CLUSTER_NODES is set", () => {
  assert.equal(read({}).clusterNodes, undefined);
  assert.equal(read({}).ackReplicas, 0);
  const redis = read({
    CHAT_REDIS_CLUSTER_NODES: "10.0.0.1:7000, redis-1.redis:7001,[::1]:7002",
    CHAT_ACK_REPLICAS: "1",
    CHAT_ACK_TIMEOUT_MS: "250",
    CHAT_REDIS_PASSWORD: "pw",
  });
  assert.deepEqual(redis.clusterNodes, [
    { host: "10.0.0.1", port: 7000 },
    { host: "redis-1.redis", port: 7001 },
    { host: "::1", port: 7002 },
  ]);
  assert.equal(redis.ackReplicas, 1);
  assert.equal(redis.ackTimeoutInMs, 250);
  assert.equal(redis.password, "pw");
});

test("a bad seed node, ack setting or prefix names its key", () => {
  for (const bad of ["localhost", "host:0", "host:70000", "host:port", "a b:1"]) {
    assert.throws(
      () => read({ CHAT_REDIS_CLUSTER_NODES: bad }),
      (error: unknown) => error instanceof ConfigError && error.message.startsWith("CHAT_REDIS_CLUSTER_NODES"),
      bad,
    );
  }
  assert.throws(() => read({ CHAT_ACK_REPLICAS: "-1" }), /CHAT_ACK_REPLICAS/);
  assert.throws(() => read({ CHAT_ACK_TIMEOUT_MS: "0" }), /CHAT_ACK_TIMEOUT_MS/);
  assert.throws(() => read({ CHAT_REDIS_PREFIX: "{chat}:" }), /CHAT_REDIS_PREFIX/);
});

test("TLS: off by default, system CAs or a CA file read at boot; a bad CA setting names its key", () => {
  assert.equal(read({}).tls, undefined);
  assert.deepEqual(read({ CHAT_REDIS_TLS: "true" }).tls, { ca: undefined });
  const caFile = join(mkdtempSync(join(tmpdir(), "chat-config-")), "ca.crt");
  writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\n");
  assert.deepEqual(read({ CHAT_REDIS_TLS: "true", CHAT_REDIS_TLS_CA_FILE: caFile }).tls, { ca: "-----BEGIN CERTIFICATE-----\n" });
  assert.throws(
    () => read({ CHAT_REDIS_TLS: "true", CHAT_REDIS_TLS_CA_FILE: `${caFile}.missing` }),
    /CHAT_REDIS_TLS_CA_FILE cannot be read: ENOENT/,
  );
  assert.throws(() => read({ CHAT_REDIS_TLS_CA_FILE: caFile }), /CHAT_REDIS_TLS is not true/);
  assert.throws(() => read({ CHAT_REDIS_TLS: "yes" }), /CHAT_REDIS_TLS must be true or false/);
});
