/** `npm run migrate` / `node dist/scripts/migrate.js`: applies the Cassandra schema (idempotent). */
import { EnvReader } from "../common/env.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { migrate } from "../storage/cassandra/migrate.js";
import { readStorageConfig } from "../storage/config.js";

const { cassandra: config } = readStorageConfig(new EnvReader());
const client = createCassandraClient(config, { withKeyspace: false });
try {
  const report = await migrate(client, config);
  console.log(JSON.stringify(report));
} finally {
  await client.shutdown();
}
