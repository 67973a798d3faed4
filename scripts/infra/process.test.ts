import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort } from "./process.js";

const LOCKS = join(tmpdir(), "chat-cluster-ports");

function ephemeralLow(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

test("freePort hands out distinct ports below the kernel's ephemeral range, each locked in this process's name, and bindable", async () => {
  const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
  assert.equal(new Set(ports).size, ports.length, "no port handed out twice");
  for (const port of ports) {
    assert.ok(port >= 20_000 && port < ephemeralLow(), `${port} is outside 20000..${ephemeralLow() - 1}`);
    assert.equal(readFileSync(join(LOCKS, String(port)), "utf8"), String(process.pid), `port ${port} is reserved for this process`);
  }
  const server = createServer();
  await new Promise<void>((resolve, reject) => (server.once("error", reject), server.listen(ports[0], "127.0.0.1", resolve)));
  await new Promise((resolve) => server.close(resolve));
});

test("another process never gets a port this one reserved, and the reservations go when this one exits", async () => {
  const mine = await Promise.all(Array.from({ length: 50 }, () => freePort()));
  // A second process reserves 2000 ports, prints them and exits. Without the locks, 2000 random
  // picks among ~12 000 ports would hit one of these 50 all but certainly (p ≈ 0.9998).
  const script = `import { freePort } from ${JSON.stringify(join(fileURLToPath(new URL(".", import.meta.url)), "process.js"))};
const ports = []; for (let i = 0; i < 2000; i++) ports.push(await freePort()); console.log(JSON.stringify(ports));`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(child.status, 0, child.stderr);
  const theirs = JSON.parse(child.stdout) as number[];
  assert.deepEqual(
    theirs.filter((port) => mine.includes(port)),
    [],
    "the other process got a port reserved here",
  );
  assert.deepEqual(
    theirs.filter((port) => existsSync(join(LOCKS, String(port)))),
    [],
    "the other process's reservations outlived it",
  );
});
