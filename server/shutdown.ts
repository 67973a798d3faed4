/**
 * Ordered, idempotent, deadline-bound shutdown of a socket node (SIGTERM/SIGINT):
 * 1. readiness turns 503, so the gateway stops sending new clients here;
 * 2. every client gets `draining { reconnectAfterMs }` and reconnects through the gateway;
 * 3. after the clients left, or at the drain deadline, the rest are disconnected;
 * 4. the listen socket and the storage clients close, and the process exits.
 */
import type { Server } from "socket.io";
import type { Logger } from "../common/logger.js";

export interface ShutdownDeps {
  io: Server;
  logger: Logger;
  drainDeadlineInMs: number;
  /** Called first: makes /readyz answer 503. */
  markDraining(): void;
  /** Closes the listen socket and storage connections. */
  closeResources(): Promise<void>;
}

/** How long clients are asked to wait before reconnecting: long enough for the gateway to see the 503. */
const RECONNECT_AFTER_MS = 1000;
const POLL_INTERVAL_MS = 100;

export function createShutdown(deps: ShutdownDeps): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= shutdown(deps));
}

async function shutdown({ io, logger, drainDeadlineInMs, markDraining, closeResources }: ShutdownDeps): Promise<void> {
  const deadline = Date.now() + drainDeadlineInMs;
  markDraining();
  logger.info({ clients: io.engine.clientsCount, drainDeadlineInMs }, "draining");
  io.local.emit("draining", { reconnectAfterMs: RECONNECT_AFTER_MS });
  while (io.engine.clientsCount > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  if (io.engine.clientsCount > 0) logger.info({ clients: io.engine.clientsCount }, "drain deadline reached; disconnecting the rest");
  io.local.disconnectSockets(true);
  await closeResources();
  logger.info("stopped");
}
