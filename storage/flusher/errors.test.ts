import assert from "node:assert/strict";
import { test } from "node:test";
import cassandra from "cassandra-driver";
import { isEntryError } from "./errors.js";

const { ResponseError, NoHostAvailableError, OperationTimedOutError } = cassandra.errors;
const codes = cassandra.types.responseErrorCodes;

test("a row Cassandra rejects, or the driver cannot encode, is the entry's fault", () => {
  assert.equal(isEntryError(new ResponseError(codes.invalid, "Key may not be empty")), true);
  assert.equal(isEntryError(new RangeError('The value of "value" is out of range.')), true);
  assert.equal(isEntryError(new TypeError("Not a valid bigint")), true);
});

test("an outage, an overload or a missing schema is never the entry's fault", () => {
  assert.equal(isEntryError(new NoHostAvailableError({})), false);
  assert.equal(isEntryError(new OperationTimedOutError("timed out", "127.0.0.1:9042")), false);
  assert.equal(isEntryError(new ResponseError(codes.writeTimeout, "Operation timed out - received only 1 responses.")), false);
  assert.equal(isEntryError(new ResponseError(codes.unavailableException, "Cannot achieve consistency level LOCAL_QUORUM")), false);
  assert.equal(isEntryError(new ResponseError(codes.overloaded, "overloaded")), false);
  assert.equal(isEntryError(new ResponseError(codes.invalid, "unconfigured table messages_by_room")), false);
  assert.equal(isEntryError(new Error("Redis connection lost")), false);
});
