/**
 * Reading the environment, once, at boot. Every getter validates its value and throws a
 * ConfigError that names the variable, so a bad deployment stops with a message an operator
 * can act on instead of running with a silent fallback.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export class EnvReader {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** A string, or `fallback` when unset or empty. */
  string(key: string, fallback: string): string {
    const value = this.env[key];
    return value === undefined || value === "" ? fallback : value;
  }

  /** A string that may be absent. */
  optionalString(key: string): string | undefined {
    const value = this.env[key];
    return value === undefined || value === "" ? undefined : value;
  }

  /** An integer within [min, max]. */
  integer(key: string, fallback: number, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}): number {
    const raw = this.env[key];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${key} must be an integer between ${min} and ${max}, got "${raw}"`);
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const raw = this.env[key];
    if (raw === undefined || raw === "") return fallback;
    if (raw === "true" || raw === "1") return true;
    if (raw === "false" || raw === "0") return false;
    throw new ConfigError(`${key} must be true or false, got "${raw}"`);
  }

  /** One of a fixed set of values. */
  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const raw = this.string(key, fallback);
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new ConfigError(`${key} must be one of ${allowed.join(", ")}, got "${raw}"`);
    }
    return raw as T;
  }

  /** A comma-separated list; empty entries are dropped. */
  list(key: string, fallback: string[]): string[] {
    const raw = this.env[key];
    if (raw === undefined) return fallback;
    return raw
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }
}
