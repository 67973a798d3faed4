/** Applies MIGRATIONS to a keyspace, creating the keyspace first. Safe to run concurrently and repeatedly. */
import type { CassandraClient } from "./client.js";
import type { CassandraConfig } from "../config.js";
import { MIGRATIONS, type Migration } from "./migrations/index.js";

export interface MigrationReport {
  keyspace: string;
  applied: number[];
  alreadyApplied: number[];
}

/** `client` must be connected without a keyspace: the keyspace may not exist yet. */
export async function migrate(
  client: CassandraClient,
  config: CassandraConfig,
  migrations: Migration[] = MIGRATIONS,
): Promise<MigrationReport> {
  const ks = config.keyspace;
  await client.execute(
    `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = {'class': 'NetworkTopologyStrategy', '${config.localDataCenter}': ${config.replicationFactor}}`,
  );
  await client.execute(`CREATE TABLE IF NOT EXISTS ${ks}.schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)`);
  const done = new Set((await client.execute(`SELECT version FROM ${ks}.schema_migrations`)).rows.map((row) => row["version"] as number));
  const report: MigrationReport = { keyspace: ks, applied: [], alreadyApplied: [] };
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) {
      report.alreadyApplied.push(migration.version);
      continue;
    }
    for (const statement of migration.statements) {
      // Unqualified table names are resolved against the target keyspace.
      await client.execute(statement.replace(/^(CREATE TABLE IF NOT EXISTS|ALTER TABLE IF EXISTS) (\w+)/, `$1 ${ks}.$2`));
    }
    await client.execute(
      `INSERT INTO ${ks}.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
      [migration.version, migration.name, new Date()],
      { prepare: true },
    );
    report.applied.push(migration.version);
  }
  return report;
}
