import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_CLIENT_TRACE_ID_LENGTH, newTraceId, traceFields, traceIdFromClient } from "./trace-id.js";

test("newTraceId: 12 Crockford base-32 characters, different every time", () => {
  const ids = Array.from({ length: 10_000 }, newTraceId);
  for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{12}$/);
  assert.equal(new Set(ids).size, ids.length);
});

test("traceIdFromClient takes well-formed ids of common schemes", () => {
  for (const id of [
    "3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b",
    "01HZX3K9Q2M8V7T6R5P4N3B2A1",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "req_abc.123:x",
    "a+b/c=",
  ]) {
    assert.equal(traceIdFromClient(id), id);
  }
  assert.equal(traceIdFromClient("a".repeat(MAX_CLIENT_TRACE_ID_LENGTH)), "a".repeat(MAX_CLIENT_TRACE_ID_LENGTH));
});

test("traceIdFromClient refuses empty, over-long and ids that could forge log content", () => {
  for (const id of [
    undefined,
    "",
    "a".repeat(MAX_CLIENT_TRACE_ID_LENGTH + 1),
    "id with spaces",
    'x","level":"fatal',
    "a\nb",
    "a\r\nb",
    "é",
  ]) {
    assert.equal(traceIdFromClient(id), undefined, JSON.stringify(id));
  }
});

test("traceFields: the ECS trace.id field, or nothing", () => {
  assert.deepEqual(traceFields("ABC"), { "trace.id": "ABC" });
  assert.deepEqual(traceFields(undefined), {});
});
