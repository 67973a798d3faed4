import assert from "node:assert/strict";
import { test } from "node:test";
import type { Server } from "socket.io";
import type { ChatMessage } from "../../storage/message.js";
import { SocketIoRoomPublisher } from "./publisher.js";

/** Records `io.to(room).emit(event, payload)` calls: the socket.io surface the publisher uses. */
function recordingIo() {
  const emitted: [string, string, unknown][] = [];
  const io = { to: (room: string) => ({ emit: (event: string, payload: unknown) => emitted.push([room, event, payload]) }) };
  return { io: io as unknown as Server, emitted };
}

test("a message goes to its room as a `message` event and counts one fan-out; a presence change goes as `presence`", () => {
  const { io, emitted } = recordingIo();
  let fannedOut = 0;
  const publisher = new SocketIoRoomPublisher(io, { messagesOut: { inc: () => void (fannedOut += 1) } });
  const message: ChatMessage = { id: "01J", room: "team-7:a", seq: 4, from: "alice", clientId: "c1", text: "hi", ts: 1 };
  publisher.message(message);
  publisher.presence({ room: "lobby", user: "bob", online: false });
  assert.deepEqual(emitted, [
    ["team-7:a", "message", message],
    ["lobby", "presence", { room: "lobby", user: "bob", online: false }],
  ]);
  assert.equal(fannedOut, 1, "presence changes are not messages");
});
