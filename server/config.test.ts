import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, EnvReader } from "../common/env.js";
import { DEFAULT_LIMITS } from "./chat/limits.js";
import { readServerConfig } from "./config.js";

const base = { CHAT_JWT_SECRET: "config-test-secret-0123456789" };

test("the limits default to the documented values and are read from their settings", () => {
  const defaults = readServerConfig(new EnvReader(base));
  assert.deepEqual(defaults.limits, DEFAULT_LIMITS);
  assert.equal(defaults.authTimeoutInMs, 10_000);
  const set = readServerConfig(
    new EnvReader({
      ...base,
      CHAT_EVENTS_PER_SECOND: "5",
      CHAT_EVENT_BURST: "7",
      CHAT_ROOMS_PER_SOCKET: "3",
      CHAT_CONNECTIONS_PER_USER: "2",
      CHAT_MAX_TOKEN_BYTES: "4096",
      CHAT_MAX_TOKEN_PATTERNS: "9",
      CHAT_TYPING_INTERVAL_MS: "500",
      CHAT_FLOOD_DISCONNECT_MS: "3000",
      CHAT_AUTH_TIMEOUT_MS: "2500",
    }),
  );
  assert.deepEqual(
    [
      set.limits.eventsPerSecond,
      set.limits.eventBurst,
      set.limits.roomsPerSocket,
      set.limits.connectionsPerUser,
      set.limits.maxTokenBytes,
      set.limits.maxTokenPatterns,
      set.limits.typingIntervalInMs,
      set.limits.floodDisconnectAfterMs,
      set.authTimeoutInMs,
    ],
    [5, 7, 3, 2, 4096, 9, 500, 3000, 2500],
  );
});

test("a bad limit stops the boot with its key named", () => {
  for (const [key, value] of [
    ["CHAT_EVENTS_PER_SECOND", "0"],
    ["CHAT_EVENT_BURST", "many"],
    ["CHAT_CONNECTIONS_PER_USER", "-1"],
    ["CHAT_MAX_TOKEN_BYTES", "10"],
    ["CHAT_AUTH_TIMEOUT_MS", "1.5"],
  ] as const) {
    assert.throws(
      () => readServerConfig(new EnvReader({ ...base, [key]: value })),
      (error: unknown) => error instanceof ConfigError && error.message.includes(key),
      `${key}=${value}`,
    );
  }
});
