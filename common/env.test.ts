import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, EnvReader } from "./env.js";

test("unset values take their defaults; set values are parsed", () => {
  const env = new EnvReader({ PORT: "3001", FLAG: "true", LIST: "a, b,,c" });
  assert.equal(env.integer("PORT", 3000), 3001);
  assert.equal(env.integer("MISSING", 7), 7);
  assert.equal(env.boolean("FLAG", false), true);
  assert.deepEqual(env.list("LIST", []), ["a", "b", "c"]);
  assert.equal(env.string("MISSING", "x"), "x");
});

test("a bad value names its key", () => {
  const env = new EnvReader({ PORT: "eighty", LEVEL: "MAYBE", N: "5" });
  assert.throws(
    () => env.integer("PORT", 3000),
    (error: unknown) => error instanceof ConfigError && error.message.includes("PORT"),
  );
  assert.throws(() => env.oneOf("LEVEL", ["ONE", "ALL"] as const, "ONE"), /LEVEL must be one of ONE, ALL/);
  assert.throws(() => env.integer("N", 1, { max: 4 }), /N must be an integer between/);
  assert.throws(() => new EnvReader({ B: "yes" }).boolean("B", false), /B must be true or false/);
});
