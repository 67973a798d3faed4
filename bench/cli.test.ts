import assert from "node:assert/strict";
import { test } from "node:test";
import { parseBenchArguments, type BenchArguments } from "./cli.js";
import { FULL, QUICK } from "./settings.js";

function parsed(args: string[]): BenchArguments {
  const result = parseBenchArguments(args);
  if ("error" in result) assert.fail(result.error);
  return result;
}

test("no argument: the full settings, every part, no profiling", () => {
  const run = parsed([]);
  assert.equal(run.settings, FULL);
  assert.equal(run.only, undefined);
  assert.equal(run.profiling, false);
  assert.ok(run.wanted("fanout") && run.wanted("redis-cluster"));
});

test("--quick --profile --only=fanout,flush: quick settings, profiling, just those parts", () => {
  const run = parsed(["--quick", "--profile", "--only=fanout,flush"]);
  assert.equal(run.settings, QUICK);
  assert.equal(run.profiling, true);
  assert.deepEqual([...run.only!], ["fanout", "flush"]);
  assert.ok(run.wanted("fanout") && run.wanted("flush"));
  assert.ok(!run.wanted("ingest") && !run.wanted("cluster"));
});

test("an unknown flag or part is a usage error naming it", () => {
  for (const [args, named] of [
    [["--fast"], "--fast"],
    [["--only=fanout,latency"], "latency"],
  ] as const) {
    const result = parseBenchArguments(args);
    assert.ok("error" in result, `${args.join(" ")} accepted`);
    assert.match(result.error, new RegExp(`^unknown argument ${named}\\nusage: npm run bench`));
  }
});
