import assert from "node:assert/strict";
import { test } from "node:test";
import { isOriginAllowed } from "./io.js";

test("clients without an Origin header (not browsers) are let through to token auth", () => {
  assert.equal(isOriginAllowed(undefined, "chat.example:8080", []), true);
});

test("with an empty allow-list, only the same origin is allowed", () => {
  assert.equal(isOriginAllowed("http://chat.example:8080", "chat.example:8080", []), true);
  assert.equal(isOriginAllowed("http://evil.example", "chat.example:8080", []), false);
  assert.equal(isOriginAllowed("not a url", "chat.example:8080", []), false);
});

test("with an allow-list, exactly the listed origins are allowed", () => {
  const allowed = ["https://app.example"];
  assert.equal(isOriginAllowed("https://app.example", "chat.example", allowed), true);
  assert.equal(isOriginAllowed("https://app.example.evil", "chat.example", allowed), false);
  assert.equal(isOriginAllowed("http://chat.example", "chat.example", allowed), false);
});
