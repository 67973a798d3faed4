/**
 * The socket.io transport against plain HTTP servers on port 0 that answer the handshake the
 * way an overloaded gateway or node does: the refusal reaches the client as a typed error with
 * the server's Retry-After.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import type { ChatError } from "./errors.js";
import { socketIoTransport } from "./socketio-transport.js";

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function answering(status: number, headers: Record<string, string>): Promise<string> {
  const server = createServer((_, response) => {
    response.writeHead(status, headers);
    response.end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function refusal(url: string): Promise<ChatError> {
  const transport = socketIoTransport(url, { transports: ["polling"] });
  return new Promise((resolve, reject) => {
    transport.open("token", {
      open: () => reject(new Error("the handshake was not refused")),
      close: () => reject(new Error("closed instead of refused")),
      event: () => undefined,
      refused: (error) => {
        transport.close();
        resolve(error);
      },
    });
  });
}

test("HTTP 503 with Retry-After on the handshake: UNAVAILABLE, retryable, retryAfterMs from the header", async () => {
  const error = await refusal(await answering(503, { "retry-after": "2" }));
  assert.equal(error.name, "ChatError");
  assert.equal(error.code, "UNAVAILABLE");
  assert.equal(error.retryable, true);
  assert.equal(error.retryAfterMs, 2000);
});

test("HTTP 429 on the handshake: RATE_LIMITED; without Retry-After no hint", async () => {
  const error = await refusal(await answering(429, {}));
  assert.equal(error.code, "RATE_LIMITED");
  assert.equal(error.retryAfterMs, undefined);
});

test("nothing listening: UNAVAILABLE without a hint, and requests fail at once as DISCONNECTED", async () => {
  const url = await answering(200, {});
  servers.pop()!.close();
  const error = await refusal(url);
  assert.equal(error.code, "UNAVAILABLE");
  await assert.rejects(socketIoTransport(url).request("join", {}, 100), (thrown: ChatError) => thrown.code === "DISCONNECTED");
});
