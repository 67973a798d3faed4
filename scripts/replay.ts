/**
 * `npm run replay -- <room> [room ...]`: rebuilds each room's read model (current messages,
 * edits, tombstones, reactions) from its stored log (storage/cassandra/replay.ts). Run it once
 * the room's entries are flushed; the flusher carries on from the rebuilt state.
 */
import { EnvReader } from "../common/env.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { replayRoom } from "../storage/cassandra/replay.js";
import { RoomLog } from "../storage/cassandra/room-log.js";
import { readStorageConfig } from "../storage/config.js";

const rooms = process.argv.slice(2);
if (rooms.length === 0) {
  console.error("usage: npm run replay -- <room> [room ...]");
  process.exit(2);
}
const config = readStorageConfig(new EnvReader());
const client = createCassandraClient(config.cassandra);
try {
  const log = new RoomLog(client, config.stream.bucketWidthInMs);
  for (const room of rooms) console.log(JSON.stringify(await replayRoom(room, log, client, config.stream.bucketWidthInMs)));
} finally {
  await client.shutdown();
}
