/**
 * Reference 1, "the limit": raw uWebSockets.js, one topic per room, `app.publish` to fan out.
 * Wire protocol (text frames): client "j<room>" subscribes and gets "j<room>" back;
 * client "s<room>|<payload>" publishes "m<room>|<seq>|<payload>" to every subscriber of the room,
 * seq counting the room's messages from 1 (as our server's and socket.io's frames carry room and
 * seq, so the bench counts every stack's deliveries the same way: once per client, room and seq).
 * Started by the bench as its own process; reports { type: "listening", port } over IPC.
 */
import "../lib/probe.js";
import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";

const require = createRequire(import.meta.url);
const uws = require("uWebSockets.js") as typeof Uws;
const decoder = new TextDecoder();
const seqs = new Map<string, number>();

const app = uws.App();
app.ws("/*", {
  idleTimeout: 0,
  maxPayloadLength: 64 * 1024,
  message(ws, data) {
    const text = decoder.decode(data);
    if (text.startsWith("j")) {
      ws.subscribe(text.slice(1));
      ws.send(text);
    } else if (text.startsWith("s")) {
      const bar = text.indexOf("|");
      if (bar > 1) {
        const room = text.slice(1, bar);
        const seq = (seqs.get(room) ?? 0) + 1;
        seqs.set(room, seq);
        app.publish(room, `m${room}|${seq}|${text.slice(bar + 1)}`);
      }
    }
  },
});
app.listen("127.0.0.1", 0, (socket) => {
  if (!socket) {
    console.error("could not listen");
    process.exit(1);
  }
  process.send?.({ type: "listening", port: uws.us_socket_local_port(socket) });
});
process.once("SIGTERM", () => process.exit(0));
