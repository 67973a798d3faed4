/**
 * The Prometheus JMX exporter as a Java agent inside the local Cassandra: the agent jar comes
 * from Maven Central (monitoring/jmx-exporter/pom.xml), cached outside the repository like the
 * Cassandra jars, and serves Cassandra's client-request, storage and JVM metrics over HTTP.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "./paths.js";

export const JMX_EXPORTER_VERSION = "1.0.1";

function cacheDir(): string {
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cacheHome, "chat-cluster", `jmx-exporter-${JMX_EXPORTER_VERSION}`);
}

/** Returns the agent jar's path, downloading it once. */
export async function ensureJmxExporterJar(): Promise<string> {
  const dir = cacheDir();
  if (!existsSync(dir)) {
    console.log(`Downloading the Prometheus JMX exporter agent ${JMX_EXPORTER_VERSION} from Maven Central into ${dir} ...`);
    // Same as the Cassandra jars: a private directory renamed into place when complete.
    const partial = `${dir}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    const args = [
      "-q",
      "-B",
      "-f",
      join(REPO_ROOT, "monitoring", "jmx-exporter", "pom.xml"),
      "dependency:copy-dependencies",
      `-DoutputDirectory=${partial}`,
      "-DincludeScope=runtime",
    ];
    try {
      await promisify(execFile)("mvn", args, { maxBuffer: 16 * 1024 * 1024 });
      await rename(partial, dir);
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      if (!existsSync(dir)) throw new Error(`mvn ${args.join(" ")} failed: ${(error as Error).message}`);
    }
  }
  const jar = (await readdir(dir)).find((name) => name.startsWith("jmx_prometheus_javaagent-") && name.endsWith(".jar"));
  if (!jar) throw new Error(`no jmx_prometheus_javaagent jar in ${dir}: delete that directory to download it again`);
  return join(dir, jar);
}

/**
 * Only the MBeans an operator of this cluster reads: exporting all of Cassandra's (thousands,
 * one per table and thread pool) would make every scrape take seconds.
 */
const AGENT_CONFIG = `lowercaseOutputName: true
lowercaseOutputLabelNames: true
includeObjectNames:
  - "org.apache.cassandra.metrics:type=ClientRequest,*"
  - "org.apache.cassandra.metrics:type=Storage,*"
  - "org.apache.cassandra.metrics:type=CommitLog,*"
  - "java.lang:type=Memory"
  - "java.lang:type=GarbageCollector,*"
`;

/** The -javaagent flag that serves Cassandra's metrics on host:port/metrics; writes the agent's config into `dir`. */
export async function jmxExporterAgentFlag(dir: string, port: number, host = "127.0.0.1"): Promise<string> {
  const jar = await ensureJmxExporterJar();
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, "jmx-exporter.yaml");
  await writeFile(configFile, AGENT_CONFIG);
  return `-javaagent:${jar}=${host}:${port}:${configFile}`;
}
