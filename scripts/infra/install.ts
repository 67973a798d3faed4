/**
 * Installs what the cluster needs from Debian when it is missing: every machine, CI's
 * included, starts without Redis and HAProxy.
 */
import { execFileSync } from "node:child_process";

const DEBIAN_PACKAGES: Record<string, string> = { "redis-server": "redis-server", haproxy: "haproxy" };

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
