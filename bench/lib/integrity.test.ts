import assert from "node:assert/strict";
import { test } from "node:test";
import type { DeliveryTally, SendResult } from "../load/protocol.js";
import {
  CHECKS,
  FigureRefused,
  requireExactDeliveries,
  requireNothingAfterWindow,
  requireOpenConnections,
  requireSendsAcknowledged,
} from "./integrity.js";

const sends = (fields: Partial<SendResult>): SendResult => ({
  sent: 10,
  acked: 10,
  failed: 0,
  failures: {},
  elapsedInMs: 1,
  ackLatenciesInMs: [],
  ...fields,
});
const tally = (fields: Partial<DeliveryTally>): DeliveryTally => ({
  counted: 100,
  duplicated: 0,
  misrouted: 0,
  malformed: 0,
  otherEvents: 0,
  open: 10,
  clients: 10,
  ...fields,
});
const refusedBy = (check: string) => (error: unknown) => error instanceof FigureRefused && error.check === check;

test("sends: all acknowledged passes; a failure, a timeout or nothing sent refuses", () => {
  requireSendsAcknowledged("w", [sends({}), sends({ sent: 3, acked: 3 })]);
  assert.throws(
    () => requireSendsAcknowledged("w", sends({ acked: 9, failed: 1, failures: { TIMEOUT: 1 } })),
    (error: unknown) => refusedBy(CHECKS.sends)(error) && /9 of 10 sends acknowledged \(1 TIMEOUT\)/.test((error as Error).message),
  );
  assert.throws(() => requireSendsAcknowledged("w", sends({ sent: 0, acked: 0 })), refusedBy(CHECKS.sends));
});

test("deliveries: exactly the expected ones pass; one short, one repeated or misrouted refuses", () => {
  requireExactDeliveries("w", 100, tally({}));
  for (const broken of [{ counted: 99 }, { counted: 101 }, { duplicated: 1 }, { misrouted: 1 }, { malformed: 1 }]) {
    assert.throws(() => requireExactDeliveries("w", 100, tally(broken)), refusedBy(CHECKS.deliveries), JSON.stringify(broken));
  }
  assert.throws(() => requireExactDeliveries("w", 0, tally({ counted: 0 })), refusedBy(CHECKS.deliveries));
});

test("after the window: anything more than the window was charged for refuses", () => {
  requireNothingAfterWindow("w", tally({}), tally({ otherEvents: 3 }), 100);
  assert.throws(() => requireNothingAfterWindow("w", tally({}), tally({ duplicated: 1 }), 100), refusedBy(CHECKS.afterWindow));
});

test("connections: all open passes, one closed refuses", () => {
  requireOpenConnections("w", tally({ open: 10 }), 10);
  assert.throws(() => requireOpenConnections("w", tally({ open: 9 }), 10), refusedBy(CHECKS.connections));
});
