/** The token CLI: help, refusal of unknown flags, and bulk minting that verifies with the secret. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { jwtVerify } from "jose";

const run = promisify(execFile);
const CLI = join(import.meta.dirname, "token.js");
const SECRET = "token-cli-test-secret-0123456789";
const env = { ...process.env, CHAT_JWT_SECRET: SECRET };

async function exitOf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test("--help prints the usage and mints nothing", async () => {
  const { code, stdout } = await exitOf(["--help"]);
  assert.equal(code, 0);
  assert.match(stdout, /^usage:/);
  assert.doesNotMatch(stdout, /eyJ/);
});

test("an unknown flag is refused with exit 2 instead of becoming a user id", async () => {
  const { code, stdout, stderr } = await exitOf(["--bogus"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(stderr, /Unknown option '--bogus'/);
});

test("--count N --csv FILE writes N distinct users whose tokens verify with the secret and carry the rooms", async () => {
  const csv = join(mkdtempSync(join(tmpdir(), "tokens-")), "t.csv");
  const { code } = await exitOf(["--count", "5", "--csv", csv, "--prefix", "load-", "--rooms", "lobby", "--rooms", "team:*"]);
  assert.equal(code, 0);
  const [header, ...rows] = readFileSync(csv, "utf8").trim().split("\n");
  assert.equal(header, "user,token");
  assert.deepEqual(
    rows.map((row) => row.split(",")[0]),
    ["load-1", "load-2", "load-3", "load-4", "load-5"],
  );
  for (const row of rows) {
    const [user, token] = row.split(",") as [string, string];
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET));
    assert.equal(payload.sub, user);
    assert.deepEqual(payload.rooms, ["lobby", "team:*"]);
  }
});

test("--count without --csv, and a bad count, are refused", async () => {
  assert.equal((await exitOf(["--count", "3"])).code, 2);
  assert.equal((await exitOf(["--count", "zero", "--csv", "/dev/null"])).code, 2);
});
