/**
 * Ordered, idempotent, deadline-bound shutdown of a socket node (SIGTERM/SIGINT):
 * 1. readiness turns 503 and new connections are refused, so the gateway sends clients elsewhere;
 * 2. every client gets `draining { reconnectAfterMs }`;
 * 3. after that pause (long enough for the gateway's health check to take the node out), the
 *    remaining connections are closed at the transport level, which socket.io clients answer by
 *    reconnecting through the gateway (a server-side `disconnect` would tell them not to);
 * 4. once they are gone, or at the drain deadline, the listen socket and storage clients close.
 */
import type { Server } from "socket.io";
import type { Logger } from "../common/logger.js";

export interface ShutdownDeps {
  io: Server;
  logger: Logger;
  drainDeadlineInMs: number;
  /** Called first: makes /readyz answer 503 and refuses new connections. */
  markDraining(): void;
  /** Closes the listen socket and storage connections. */
  closeResources(): Promise<void>;
}

/** The gateway checks every second and needs two failures: 2 s takes the node out of rotation. */
export const RECONNECT_AFTER_MS = 2000;
const POLL_INTERVAL_MS = 50;

export function createShutdown(deps: ShutdownDeps): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= shutdown(deps));
}

async function shutdown({ io, logger, drainDeadlineInMs, markDraining, closeResources }: ShutdownDeps): Promise<void> {
  const deadline = Date.now() + drainDeadlineInMs;
  markDraining();
  logger.info({ clients: io.engine.clientsCount, drainDeadlineInMs }, "draining");
  io.local.emit("draining", { reconnectAfterMs: RECONNECT_AFTER_MS });
  await waitUntil(() => io.engine.clientsCount === 0, Math.min(deadline, Date.now() + RECONNECT_AFTER_MS));
  // Every engine.io connection, including ones that never completed a socket.io connect.
  io.engine.close();
  await waitUntil(() => io.engine.clientsCount === 0, deadline);
  if (io.engine.clientsCount > 0) logger.info({ clients: io.engine.clientsCount }, "drain deadline reached; closing the rest");
  await closeResources();
  logger.info("stopped");
}

async function waitUntil(done: () => boolean, deadline: number): Promise<void> {
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
}
