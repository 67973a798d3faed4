/**
 * Runs a real Apache Cassandra 5.0.9 node for development and tests, without a Cassandra
 * install: the server jars come from Maven Central (scripts/cassandra/pom.xml) and the JVM is
 * launched the way Cassandra's own bin/cassandra + conf/cassandra-env.sh would launch it, with
 * the flags of conf/jvm-server.options and conf/jvm17-server.options of the 5.0 branch.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import cassandra from "cassandra-driver";
import { isPortOpen, startProcess, waitFor, type ManagedProcess } from "./process.js";

export const CASSANDRA_VERSION = "5.0.9";

/** SimpleSnitch puts every node in this data center; clients must name it. */
export const LOCAL_DATA_CENTER = "datacenter1";

export interface CassandraOptions {
  /** Everything the node keeps (data, commit log, rendered config, logs) goes under here. */
  dataDir: string;
  /** Where the JVM's stdout/stderr go (Cassandra's WARN and above, JVM crashes). */
  logFile: string;
  listenAddress?: string;
  nativePort?: number;
  storagePort?: number;
  /** Comma-separated host:port list; a lone node is its own seed. */
  seeds?: string;
  /** Stored in the data dir on first start: a later start with another name is refused. */
  clusterName?: string;
  heapInMb?: number;
  startTimeoutInMs?: number;
  /** Appended to the JVM flags, e.g. the Prometheus JMX exporter's -javaagent (local monitoring). */
  extraJvmArgs?: string[];
}

export interface CassandraNode {
  process: ManagedProcess;
  host: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * 1 GiB heap: this is a 2-core, 24 GiB dev/CI machine that also runs Redis and the node
 * processes, and tests may start three of these. cassandra-env.sh would pick 1/4 of RAM (6 GiB)
 * here, which is sized for a dedicated server. A chat test load fits in 1 GiB (memtables get
 * 1/4 of it); pass heapInMb to give benchmarks more. There is no -Xmn: young-generation sizing
 * is left to G1, and cassandra-env.sh refuses to start with -Xmn under G1.
 */
const DEFAULT_HEAP_IN_MB = 1024;
/** Generous: a cold start takes ~10 s here, but several JVMs starting at once share 2 cores. */
const DEFAULT_START_TIMEOUT_IN_MS = 180_000;
/** SIGTERM makes Cassandra drain (flush memtables) so the next start replays no commit log. */
const STOP_DEADLINE_IN_MS = 60_000;

/** The pom and the cassandra.yaml template, found from scripts/infra/ or dist/scripts/infra/. */
function cassandraFilesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "scripts", "cassandra");
    if (existsSync(join(candidate, "pom.xml"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("scripts/cassandra/pom.xml not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** Outside the repo, so every clone and worktree on the machine shares one download. */
function jarCacheDir(): string {
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cacheHome, "chat-cluster", `cassandra-${CASSANDRA_VERSION}`, "lib");
}

/** Returns a directory holding cassandra-all and all its runtime jars, downloading them once. */
export async function ensureCassandraJars(): Promise<string> {
  const libDir = jarCacheDir();
  if (existsSync(libDir)) return libDir;
  console.log(`Downloading Apache Cassandra ${CASSANDRA_VERSION} jars from Maven Central into ${libDir} ...`);
  // Maven writes into a private directory that is renamed into place only when complete, so
  // an interrupted download never passes for a cache.
  const partialDir = `${libDir}.partial-${process.pid}`;
  await rm(partialDir, { recursive: true, force: true });
  try {
    await copyDependencies(partialDir);
    await rename(partialDir, libDir);
  } catch (error) {
    await rm(partialDir, { recursive: true, force: true });
    // Another process finishing the same download first is a success.
    if (!existsSync(libDir)) throw error;
  }
  return libDir;
}

async function copyDependencies(outputDir: string): Promise<void> {
  const pom = join(cassandraFilesDir(), "pom.xml");
  const args = ["-q", "-B", "-f", pom, "dependency:copy-dependencies", `-DoutputDirectory=${outputDir}`, "-DincludeScope=runtime"];
  try {
    await promisify(execFile)("mvn", args, { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout = "", stderr = "", message } = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`mvn ${args.join(" ")} failed: ${message}\n${stdout}${stderr}`);
  }
}

interface NodeSettings {
  dataDir: string;
  logFile: string;
  listenAddress: string;
  nativePort: number;
  storagePort: number;
  seeds: string;
  clusterName: string;
  heapInMb: number;
  startTimeoutInMs: number;
  extraJvmArgs: string[];
}

function withDefaults(options: CassandraOptions): NodeSettings {
  const listenAddress = options.listenAddress ?? "127.0.0.1";
  const storagePort = options.storagePort ?? 7000;
  return {
    dataDir: resolve(options.dataDir),
    logFile: resolve(options.logFile),
    listenAddress,
    nativePort: options.nativePort ?? 9042,
    storagePort,
    seeds: options.seeds ?? `${listenAddress}:${storagePort}`,
    clusterName: options.clusterName ?? "chat-cluster",
    heapInMb: options.heapInMb ?? DEFAULT_HEAP_IN_MB,
    startTimeoutInMs: options.startTimeoutInMs ?? DEFAULT_START_TIMEOUT_IN_MS,
    extraJvmArgs: options.extraJvmArgs ?? [],
  };
}

/**
 * Starts a node and resolves once it answers CQL. The data dir is reused as it is, so
 * starting again on the same one restarts the same node with its data.
 */
export async function startCassandra(options: CassandraOptions): Promise<CassandraNode> {
  const settings = withDefaults(options);
  const libDir = await ensureCassandraJars();
  const confDir = await writeConfig(settings);
  const node = startProcess({
    name: `cassandra@${settings.listenAddress}:${settings.nativePort}`,
    command: javaExecutable(),
    args: await jvmArgs(settings, libDir, confDir),
    // cassandra-env.sh exports this: fewer glibc malloc arenas keep the off-heap RSS down.
    env: { ...process.env, MALLOC_ARENA_MAX: "4" },
    // A heap dump on OutOfMemoryError lands in the working directory.
    cwd: settings.dataDir,
    logFile: settings.logFile,
  });
  try {
    await waitFor(
      `Cassandra CQL on ${settings.listenAddress}:${settings.nativePort}`,
      () => answersCql(settings.listenAddress, settings.nativePort),
      {
        timeoutInMs: settings.startTimeoutInMs,
        process: node,
      },
    );
  } catch (error) {
    await node.stop(STOP_DEADLINE_IN_MS);
    throw error;
  }
  return { process: node, host: settings.listenAddress, port: settings.nativePort, stop: () => node.stop(STOP_DEADLINE_IN_MS) };
}

function javaExecutable(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin", "java") : "java";
}

/** Renders cassandra.yaml and logback.xml into <dataDir>/conf and returns that directory. */
async function writeConfig(settings: NodeSettings): Promise<string> {
  const confDir = join(settings.dataDir, "conf");
  await mkdir(confDir, { recursive: true });
  const template = await readFile(join(cassandraFilesDir(), "cassandra.yaml"), "utf8");
  const yaml = renderTemplate(template, {
    CLUSTER_NAME: settings.clusterName,
    DATA_DIR: settings.dataDir,
    LISTEN_ADDRESS: settings.listenAddress,
    NATIVE_PORT: String(settings.nativePort),
    STORAGE_PORT: String(settings.storagePort),
    SEEDS: settings.seeds,
  });
  await writeFile(join(confDir, "cassandra.yaml"), yaml);
  await writeFile(join(confDir, "logback.xml"), LOGBACK_XML);
  return confDir;
}

function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`cassandra.yaml template: no value for \${${name}}`);
    return value;
  });
}

/**
 * INFO and above to <dataDir>/logs/system.log (read by the cassandra.logdir property that
 * bin/cassandra sets), WARN and above also to stdout, i.e. the process log file.
 */
const LOGBACK_XML = `<configuration>
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>\${cassandra.logdir}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.SizeAndTimeBasedRollingPolicy">
      <fileNamePattern>\${cassandra.logdir}/system.log.%d{yyyy-MM-dd}.%i.zip</fileNamePattern>
      <maxFileSize>50MB</maxFileSize>
      <maxHistory>7</maxHistory>
      <totalSizeCap>500MB</totalSizeCap>
    </rollingPolicy>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG" />
    <appender-ref ref="STDOUT" />
  </root>
</configuration>
`;

/** conf/jvm-server.options (5.0): the GENERAL JVM SETTINGS; its heap lines are commented out. */
const JVM_SERVER_OPTIONS = [
  "-ea",
  "-da:net.openhft...",
  "-XX:+UseThreadPriorities",
  "-XX:+HeapDumpOnOutOfMemoryError",
  "-Xss256k",
  "-XX:+AlwaysPreTouch",
  "-XX:+UseTLAB",
  "-XX:+ResizeTLAB",
  "-XX:+UseNUMA",
  "-XX:+PerfDisableSharedMem",
  "-Djava.net.preferIPv4Stack=true",
];

/** conf/jvm17-server.options (5.0): G1, the JPMS exports/opens Cassandra needs, Netty settings. */
const JVM17_SERVER_OPTIONS = [
  "-XX:+UseG1GC",
  "-XX:+ParallelRefProcEnabled",
  "-XX:MaxTenuringThreshold=1",
  "-XX:G1HeapRegionSize=16m",
  "-XX:G1RSetUpdatingPauseTimePercent=5",
  "-XX:MaxGCPauseMillis=300",
  "-XX:InitiatingHeapOccupancyPercent=70",
  "-Djdk.attach.allowAttachSelf=true",
  ...[
    "java.base/jdk.internal.misc",
    "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.rmi/sun.rmi.registry",
    "java.rmi/sun.rmi.server",
    "java.sql/java.sql",
    "java.base/java.lang.ref",
    "jdk.unsupported/sun.misc",
    "jdk.compiler/com.sun.tools.javac.file",
    "jdk.attach/sun.tools.attach",
  ].flatMap((target) => ["--add-exports", `${target}=ALL-UNNAMED`]),
  ...[
    "java.base/java.lang.module",
    "java.base/jdk.internal.loader",
    "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect",
    "java.base/jdk.internal.math",
    "java.base/jdk.internal.module",
    "java.base/jdk.internal.util.jar",
    "jdk.management/com.sun.management.internal",
    "java.base/sun.nio.ch",
    "java.base/java.io",
    "java.base/java.lang.reflect",
    "jdk.compiler/com.sun.tools.javac",
    "java.base/java.lang",
    "java.base/java.util",
    "java.base/java.nio",
  ].flatMap((target) => ["--add-opens", `${target}=ALL-UNNAMED`]),
  "-Dio.netty.tryReflectionSetAccessible=true",
  "-Dio.netty.allocator.useCacheForAllThreads=true",
  "-Dio.netty.allocator.maxOrder=11",
];

/** What conf/cassandra-env.sh and bin/cassandra add, with this node's paths and heap. */
async function launcherArgs(settings: NodeSettings, libDir: string, confDir: string): Promise<string[]> {
  const logDir = join(settings.dataDir, "logs");
  await mkdir(logDir, { recursive: true });
  return [
    `-Xms${settings.heapInMb}M`,
    `-Xmx${settings.heapInMb}M`,
    `-Xlog:gc=info,heap*=trace,age*=debug,safepoint=info,promotion*=trace:file=${join(logDir, "gc.log")}:time,uptime,pid,tid,level:filecount=10,filesize=10485760`,
    `-javaagent:${await jammJar(libDir)}`,
    "-XX:OnOutOfMemoryError=kill -9 %p",
    `-Dlogback.configurationFile=${join(confDir, "logback.xml")}`,
    `-Dcassandra.logdir=${logDir}`,
    `-Dcassandra.storagedir=${settings.dataDir}`,
    "-Dcassandra-foreground=yes",
    // bin/cassandra finds cassandra.yaml on the classpath (conf/); a URL needs no classpath entry.
    `-Dcassandra.config=${pathToFileURL(join(confDir, "cassandra.yaml")).href}`,
  ];
}

/**
 * Flags that Cassandra's options files and launch scripts do not have. Deliberately absent:
 * -Dcassandra.jmx.local.port (cassandra-env.sh sets 7199). Without it or a remote port, 5.0
 * starts no JMX server at all, so nodes need no JMX port each and cannot collide on one;
 * Cassandra only logs that JMX is off. Also absent: cassandra-env.sh's
 * -XX:CompileCommandFile=conf/hotspot_compiler (JIT inlining hints, not needed to run) and
 * -Djava.library.path=lib/sigar-bin (Sigar's native libraries are not on Maven Central;
 * without them Cassandra only skips its OS-settings checks), and bin/cassandra's jemalloc
 * LD_PRELOAD (Cassandra warns and uses glibc malloc).
 */
const DEV_ONLY_OPTIONS = [
  // Start serving CQL without the ~8 s wait for gossip to settle; dev clusters are tiny and
  // start one node at a time.
  "-Dcassandra.skip_wait_for_gossip_to_settle=0",
  // RING_DELAY (30 s by default) is how long a node lets gossip tell it about the ring and the
  // schema. A brand-new node waits all of it before allocating its tokens whenever the cluster
  // has no user keyspace yet, i.e. on every cold test start. Gossip on loopback, every 1 s,
  // needs far less than 5 s.
  "-Dcassandra.ring_delay_ms=5000",
];

async function jvmArgs(settings: NodeSettings, libDir: string, confDir: string): Promise<string[]> {
  return [
    ...JVM_SERVER_OPTIONS,
    ...JVM17_SERVER_OPTIONS,
    ...(await launcherArgs(settings, libDir, confDir)),
    ...DEV_ONLY_OPTIONS,
    ...settings.extraJvmArgs,
    "-cp",
    join(libDir, "*"),
    "org.apache.cassandra.service.CassandraDaemon",
  ];
}

async function jammJar(libDir: string): Promise<string> {
  const jar = (await readdir(libDir)).find((name) => /^jamm-[\d.]+\.jar$/.test(name));
  if (!jar) throw new Error(`no jamm jar in ${libDir}: delete that directory to download the jars again`);
  return join(libDir, jar);
}

/** True once the node runs CQL queries, not merely accepts connections, and is the expected version. */
async function answersCql(host: string, port: number): Promise<boolean> {
  if (!(await isPortOpen(port, host))) return false;
  const client = new cassandra.Client({
    contactPoints: [host],
    protocolOptions: { port },
    localDataCenter: LOCAL_DATA_CENTER,
    socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
  });
  try {
    const result = await client.execute("SELECT release_version FROM system.local");
    return result.first()?.get("release_version") === CASSANDRA_VERSION;
  } finally {
    await client.shutdown();
  }
}
