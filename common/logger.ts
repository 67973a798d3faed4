/**
 * pino JSON logs. Tokens and message texts must never reach a log line: the redaction paths
 * below are a second line of defence behind the rule that handlers log ids, not payloads.
 */
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ["token", "*.token", "auth.token", "*.auth.token", "authorization", "*.authorization", "headers.authorization", "text", "*.text", "password", "*.password", "secret", "*.secret"],
      censor: "[redacted]",
    },
  });
}
