/**
 * Reference 2, "what most teams run": socket.io on a node:http server with its default `ws`
 * engine, no adapter, no auth, no storage. Events mirror ours: `join` {room} → ack {ok},
 * `send` {room, text} → `message` to the room, then ack {ok}.
 * Started by the bench as its own process; reports { type: "listening", port } over IPC.
 */
import "../lib/probe.js";
import { createServer } from "node:http";
import { Server } from "socket.io";

type Ack = (reply: unknown) => void;

const http = createServer();
const io = new Server(http, { serveClient: false });
let seq = 0;
io.on("connection", (socket) => {
  socket.on("join", (payload: { room?: unknown }, ack?: Ack) => {
    if (typeof payload?.room !== "string") return ack?.({ ok: false });
    void socket.join(payload.room);
    ack?.({ ok: true, room: payload.room, seq });
  });
  socket.on("send", (payload: { room?: unknown; text?: unknown; clientId?: unknown }, ack?: Ack) => {
    if (typeof payload?.room !== "string" || typeof payload.text !== "string") return ack?.({ ok: false });
    seq += 1;
    io.to(payload.room).emit("message", { room: payload.room, seq, text: payload.text, clientId: payload.clientId, ts: Date.now() });
    ack?.({ ok: true, seq });
  });
});
http.listen(0, "127.0.0.1", () => {
  const address = http.address();
  process.send?.({ type: "listening", port: typeof address === "object" && address ? address.port : 0 });
});
process.once("SIGTERM", () => process.exit(0));
