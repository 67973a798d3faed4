/**
 * JSON logs in Elastic Common Schema (ECS), through @elastic/ecs-pino-format, so Elasticsearch
 * indexes them without an ingest pipeline: `@timestamp`, `log.level`, `message`, `log.logger`
 * (the component), `service.name`, `service.node.name` (the node or flusher name), `process.pid`,
 * `host.hostname`, `error.*` for a logged `err`, plus each line's own fields (ids, counts, codes).
 * The fields are documented in docs/operations.md.
 *
 * Tokens and message texts must never reach a log line: the redaction paths below are a second
 * line of defence behind the rule that handlers log ids, not payloads.
 */
import { ecsFormat } from "@elastic/ecs-pino-format";
import { pino, type Logger } from "pino";

export type { Logger };

/** The `service.name` of every process of the cluster; `log.logger` says which component. */
export const SERVICE_NAME = "chat-cluster";

export const REDACTED_PATHS = [
  "token",
  "*.token",
  "auth.token",
  "*.auth.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "text",
  "*.text",
  "password",
  "*.password",
  "secret",
  "*.secret",
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  const serviceNodeName = process.env.CHAT_NODE_NAME ?? process.env.CHAT_FLUSHER_NAME;
  return pino({
    // No Elastic APM agent runs here; its auto-detection would only cost a require per logger.
    ...ecsFormat({ apmIntegration: false, convertErr: true, serviceName: SERVICE_NAME, ...(serviceNodeName ? { serviceNodeName } : {}) }),
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  });
}
