/**
 * Parts 4 and 6 of a run, on node A with the ack path on a core of its own: durable ingest,
 * end to end (sent on node A, received on node B, at 50 % of the ingest maximum), and the
 * message changes beside the sends; then every acknowledged send and change is read back from
 * Cassandra, stored once.
 */
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import { readStoredChanges, requireChangesStoredOnce } from "../lib/change-receipts.js";
import { withPlacement, type Placement } from "../lib/cpu-placement.js";
import { deadLetterCount } from "../lib/read-back.js";
import type { MeasuredServer } from "../lib/servers.js";
import type { ChangeReceipt, Receipt } from "../load/protocol.js";
import { measureChanges, type ChangesResult } from "../scenarios/changes.js";
import { connectSenders, ingestLoad, measureEndToEnd, measureIngest, type EndToEndResult, type IngestResult } from "../scenarios/ingest.js";
import { socketIoUrl, userOf, type BenchRun, type BenchStack } from "../stack.js";

export interface IngestPart {
  ingest: IngestResult | undefined;
  endToEnd: EndToEndResult | undefined;
  changes: ChangesResult | undefined;
  latencyPlacement: Placement | null;
}

export async function runIngestPart(
  { settings, wanted, log, profiled }: BenchRun,
  stack: BenchStack,
  nodeB: MeasuredServer,
): Promise<IngestPart> {
  const { nodeA, urlA, tokens, redisPid, generators, flusher, stores, keys, redisClient, readBackClient, storedOnce } = stack;
  if (!wanted("ingest") && !wanted("changes"))
    return { ingest: undefined, endToEnd: undefined, changes: undefined, latencyPlacement: null };
  log(wanted("ingest") ? "4. durable ingest on one node" : "4. message changes on one node");
  const ingestReceipts: Receipt[] = [];
  const changeReceipts: ChangeReceipt[] = [];
  const senders = await connectSenders(generators, urlA, tokens, settings.ingest);
  // Latency is measured with the ack path on a core of its own (see lib/cpu-placement.ts).
  const placed = await withPlacement(
    {
      measured: [nodeA.pid, nodeB.pid, redisPid],
      rest: [...generators.map((g) => g.pid), flusher.process.child.pid!],
      background: [stores.cassandra.process.child.pid!],
    },
    async () => {
      let ingest: IngestResult | undefined;
      let endToEnd: EndToEndResult | undefined;
      if (wanted("ingest")) {
        ingest = await profiled([nodeA], "4-ingest", () =>
          measureIngest(
            ingestLoad(nodeA, redisPid, generators, senders, settings.ingest, log, { receipts: ingestReceipts }),
            settings.ingest,
          ),
        );
        log("6. end to end, sent on node A, received on node B, at 50 % load");
        endToEnd = await measureEndToEnd(
          generators[0],
          senders,
          generators[1],
          socketIoUrl(nodeB.port),
          tokens[1]!,
          ingest.maxAckedPerSecond * 0.5,
          settings.ingest,
          { nodeA: nodeA.pid, nodeB: nodeB.pid, redis: redisPid },
          log,
          ingestReceipts,
        );
      }
      let changes: ChangesResult | undefined;
      if (wanted("changes")) {
        log("4. message changes (edits and reactions) on one node, beside the sends");
        changes = await profiled([nodeA], "4-changes", () =>
          measureChanges(
            nodeA,
            redisPid,
            generators,
            senders,
            settings.ingest,
            settings.changes,
            generators.map((_, g) => userOf(g)),
            log,
            { sends: ingestReceipts, changes: changeReceipts },
          ),
        );
      }
      return { ingest, endToEnd, changes };
    },
  );
  const { ingest, endToEnd, changes } = placed.result;
  const latencyPlacement = placed.placement;
  if (latencyPlacement)
    log(`  (ack path on CPU ${latencyPlacement.measured.join(",")}, everything else on CPU ${latencyPlacement.rest.join(",")})`);
  const stored = await storedOnce(
    [...(ingest ? ["ingest and end to end"] : []), ...(changes ? ["the messages changes were made to"] : [])].join(", "),
    ingestReceipts,
    redisClient,
    keys,
  );
  log(`  every acknowledged send stored once: ${stored} rows read back from Cassandra`);
  if (changes) {
    const readBackResult = await requireChangesStoredOnce({
      where: "changes",
      changes: changeReceipts,
      sends: ingestReceipts,
      read: (expected) => readStoredChanges(readBackClient, expected, ingestReceipts, DEFAULT_STREAM_CONFIG.bucketWidthInMs),
      deadLettered: () => deadLetterCount(redisClient, keys),
      timeoutInMs: 60_000,
    });
    changes.storedReadBack = readBackResult.found;
    log(
      `  every acknowledged change stored once: ${readBackResult.found} of ${changes.acknowledged} room_log entries read back, the edited texts and reactions of ${changes.targets} messages as the acks leave them`,
    );
  }
  return { ingest, endToEnd, changes, latencyPlacement };
}
