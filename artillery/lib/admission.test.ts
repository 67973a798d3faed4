import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { io } from "socket.io-client";
import { admitWithBackoff, HandshakeRefused, NeverAdmitted, openOnce } from "./admission.js";

/** A clock that only moves when the retry loop sleeps. */
function fakeTime() {
  let now = 0;
  const slept: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      slept.push(ms);
      now += ms;
    },
    slept,
  };
}

/** Backoff that returns its ceiling for the attempt, floored by the hint, as client/backoff.ts with random() = 1 would. */
function recordingBackoff() {
  const hints: (number | undefined)[] = [];
  let attempt = 0;
  return {
    hints,
    next(retryAfterMs?: number) {
      hints.push(retryAfterMs);
      const jittered = Math.min(30_000, 500 * 2 ** attempt++);
      return retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
    },
  };
}

test("a refused user retries after Retry-After until it is in, and says how long it waited", async () => {
  const time = fakeTime();
  const backoff = recordingBackoff();
  const answers = [
    new HandshakeRefused("UNAVAILABLE", 503, 5000),
    new HandshakeRefused("RATE_LIMITED", 429, 1000),
    new HandshakeRefused("TIMEOUT", 0, undefined),
  ];
  const refused: number[] = [];
  const admission = await admitWithBackoff({
    attempt: async () => {
      const answer = answers.shift();
      if (answer) throw answer;
    },
    maxWaitInMs: 60_000,
    backoff,
    sleep: time.sleep,
    now: time.now,
    onRefused: (refusal) => refused.push(refusal.status),
  });
  assert.deepEqual(backoff.hints, [5000, 1000, undefined], "each Retry-After is handed to the backoff");
  assert.deepEqual(time.slept, [5000, 1000, 2000], "never sooner than Retry-After; without one, the backoff's own delay");
  assert.deepEqual(refused, [503, 429, 0]);
  assert.deepEqual(admission, { attempts: 4, refusals: 3, waitedInMs: 8000 });
});

test("a user still refused at its deadline is never admitted; it does not sleep past the deadline", async () => {
  const time = fakeTime();
  const attempt = async () => {
    throw new HandshakeRefused("UNAVAILABLE", 503, 5000);
  };
  await assert.rejects(
    admitWithBackoff({ attempt, maxWaitInMs: 12_000, backoff: recordingBackoff(), sleep: time.sleep, now: time.now }),
    (error: unknown) => error instanceof NeverAdmitted && error.attempts === 3 && error.last.status === 503,
  );
  assert.deepEqual(time.slept, [5000, 5000], "a third wait would end after the 12-s deadline");
});

test("no retry for a refusal that waiting cannot cure, nor for a deadline of 0", async () => {
  const time = fakeTime();
  for (const code of ["UNAUTHORIZED", "LIMIT_REACHED"]) {
    let attempts = 0;
    const attempt = async () => {
      attempts += 1;
      throw new HandshakeRefused(code, 0, undefined);
    };
    await assert.rejects(
      admitWithBackoff({ attempt, maxWaitInMs: 60_000, sleep: time.sleep, now: time.now }),
      (e: unknown) => e instanceof HandshakeRefused && e.code === code,
    );
    assert.equal(attempts, 1, code);
  }
  const full = async () => {
    throw new HandshakeRefused("UNAVAILABLE", 503, 5000);
  };
  await assert.rejects(admitWithBackoff({ attempt: full, maxWaitInMs: 0, sleep: time.sleep, now: time.now }), NeverAdmitted);
  assert.deepEqual(time.slept, []);
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("openOnce reads the status and Retry-After of a WebSocket handshake answered 503, which socket.io-client does not expose", async () => {
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (_req, socket) => {
    socket.end(
      'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{"error":"UNAVAILABLE"}   ',
    );
  });
  const url = await listen(server);
  const socket = io(url, { transports: ["websocket"], reconnection: false, autoConnect: false, forceNew: true, timeout: 5000 });
  try {
    await assert.rejects(openOnce(socket), (error: unknown) => {
      assert.ok(error instanceof HandshakeRefused, String(error));
      assert.deepEqual([error.code, error.status, error.retryAfterMs, error.retryable], ["UNAVAILABLE", 503, 7000, true]);
      return true;
    });
  } finally {
    socket.disconnect();
    server.close();
  }
});
