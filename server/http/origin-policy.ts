/**
 * Which browser origins may use this node (CHAT_ALLOWED_ORIGINS; empty: the page's own host
 * only), and what happens when one may not: a log line naming the origin (never a token) and
 * `chat_origin_refused_total`, for the socket.io handshake and the REST API alike. Without them
 * a page on a wrong origin sees only `xhr poll error` and the operator sees nothing.
 */
import { Counter, type Registry } from "prom-client";
import type { Logger } from "../../common/logger.js";
import { isOriginAllowed } from "../realtime/io.js";

export type RefusedVia = "socket.io" | "http";

/** Origins are client-chosen strings: they go into the log line, not into a metric label (unbounded). */
const MAX_LOGGED_ORIGIN_CHARS = 200;

export class OriginPolicy {
  private readonly refusals: Counter<"via">;

  constructor(
    private readonly allowedOrigins: readonly string[],
    private readonly logger: Logger,
    registry: Registry,
  ) {
    this.refusals = new Counter({
      name: "chat_origin_refused_total",
      help: "Browser requests refused because their Origin is not allowed, by transport",
      labelNames: ["via"],
      registers: [registry],
    });
  }

  allows(origin: string | undefined, host: string | undefined): boolean {
    return isOriginAllowed(origin, host, this.allowedOrigins);
  }

  refused(origin: string, via: RefusedVia): void {
    this.refusals.inc({ via });
    this.logger.warn(
      {
        origin: origin.slice(0, MAX_LOGGED_ORIGIN_CHARS),
        via,
        allowed: this.allowedOrigins.length > 0 ? this.allowedOrigins : "same host only",
      },
      "origin refused (CHAT_ALLOWED_ORIGINS)",
    );
  }
}
