/**
 * The Centrifugo binary the bench compares against: built from source with `go install` at a
 * pinned version into the project's cache directory (like helm in scripts/helm-check.sh), and
 * reused while the version stamp beside it matches. A cold build takes a few minutes (Go's
 * build cache keeps later rebuilds short); it is never committed.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const CENTRIFUGO_MODULE = "github.com/centrifugal/centrifugo/v6";
export const CENTRIFUGO_VERSION = "v6.9.1";

function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "chat-cluster", "centrifugo");
}

/** The path of the pinned Centrifugo binary, building it first when it is missing or of another version. */
export async function ensureCentrifugo(log: (line: string) => void): Promise<string> {
  const dir = cacheDir();
  const binary = join(dir, "centrifugo");
  const stamp = join(dir, ".version");
  const wanted = `${CENTRIFUGO_MODULE}@${CENTRIFUGO_VERSION}`;
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === wanted) return binary;
  mkdirSync(dir, { recursive: true });
  log(`building Centrifugo ${CENTRIFUGO_VERSION} with go install (a few minutes the first time) into ${dir}`);
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    // GOWORK/GOFLAGS cleared: a workspace or flags of the caller's must not change what is built.
    const env = { ...process.env, GOBIN: dir, GOWORK: "off", GOFLAGS: "" };
    execFile("go", ["install", wanted], { cwd: dir, env, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error)
        reject(new Error(`go install ${wanted} failed (is Go installed?): ${error.message}\n${stderr.split("\n").slice(-20).join("\n")}`));
      else resolve();
    });
  });
  writeFileSync(stamp, `${wanted}\n`);
  log(`built Centrifugo ${CENTRIFUGO_VERSION} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return binary;
}
