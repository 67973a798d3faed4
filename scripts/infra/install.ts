/**
 * Installs what the cluster needs from Debian when it is missing: every machine, CI's
 * included, starts without Redis and HAProxy. The browser tests' Chromium comes the same way,
 * asked for by those tests only (`npm start` does not need it).
 */
import { execFileSync } from "node:child_process";

const DEBIAN_PACKAGES: Record<string, string> = { "redis-server": "redis-server", haproxy: "haproxy" };

/** Debian's Chromium, driven by puppeteer-core in test/browser/ through this executable. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Installs Debian's `chromium` when it is missing; returns its executable. */
export function ensureChromium(): string {
  // With a font, so text renders (the packages go in without their recommended ones).
  if (!onPath("chromium")) ensureDebianPackages(["chromium", "fonts-liberation"]);
  return CHROMIUM_PATH;
}

function onPath(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function ensureDebianPackages(commands = Object.keys(DEBIAN_PACKAGES), packageOf: Record<string, string> = DEBIAN_PACKAGES): void {
  const missing = [...new Set(commands.filter((command) => !onPath(command)).map((command) => packageOf[command] ?? command))];
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} from Debian (apt-get)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: "inherit", env });
}
