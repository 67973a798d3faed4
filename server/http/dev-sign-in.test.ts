import assert from "node:assert/strict";
import { test } from "node:test";
import { DEV_JWT_SECRET, isDevSecret } from "./dev-sign-in.js";

test("the dev sign-in is on only for the dev secret, never for another secret or a public key", () => {
  assert.equal(isDevSecret({ secret: DEV_JWT_SECRET, publicKeyPem: undefined }), true);
  assert.equal(isDevSecret({ secret: "a-production-secret-0123456789", publicKeyPem: undefined }), false);
  assert.equal(isDevSecret({ secret: `${DEV_JWT_SECRET} `, publicKeyPem: undefined }), false);
  assert.equal(isDevSecret({ secret: undefined, publicKeyPem: "-----BEGIN PUBLIC KEY-----" }), false);
  assert.equal(isDevSecret({ secret: DEV_JWT_SECRET, publicKeyPem: "-----BEGIN PUBLIC KEY-----" }), false);
});
