/**
 * The abuse suite's verdicts and its table: each check logged as it is made, the failures kept
 * for the exit code, and the table written into docs/security.md between the abuse-table markers.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../infra/paths.js";
import type { Latencies } from "./canary.js";

/** What an attacker process printed: answer codes by count, plus attack-specific figures. */
export interface Report {
  answers: Record<string, number>;
  figures: Record<string, number>;
}

export interface Row {
  attack: string;
  refused: string;
  baseline: Latencies;
  during: Latencies;
  rssBefore: number[];
  rssAfter: number[];
}

export interface TableExtras {
  bytesPerSend: number;
  acked: number;
  rssBaseline: number[];
  rssEnd: number[];
  connections: number;
  fdLimit: number;
  shedSeconds: Record<string, number>;
  settleMs: number;
}

export type Log = (line: string) => void;

export class Verdicts {
  readonly failures: string[] = [];
  constructor(private readonly log: Log) {}
  check(ok: boolean, what: string): void {
    if (!ok) this.failures.push(what);
    this.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  }
}

/** The answer codes of `report` outside `allowed`. */
export const codes = (report: Report, allowed: string[]) => Object.keys(report.answers).filter((code) => !allowed.includes(code));

/** "12 ok, 3 RATE_LIMITED". */
export const brief = (report: Report) =>
  Object.entries(report.answers)
    .map(([code, n]) => `${n} ${code}`)
    .join(", ");

const fmt = (l: Latencies) => `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)} (${l.count})`;

export function writeTable(rows: Row[], extra: TableExtras, failures: string[], log: Log): void {
  const file = join(REPO_ROOT, "docs", "security.md");
  const lines = [
    "<!-- abuse-table:begin (written by npm run abuse) -->",
    `Run of ${new Date().toISOString().slice(0, 16)} UTC, 2 nodes, gateway client limits on, canary 1 send/s; ${failures.length === 0 ? "every assertion held" : `${failures.length} assertion(s) failed: ${failures.join("; ")}`}.`,
    "",
    "| attack (one user or one address) | refused how | canary ack p50 / p99 ms (samples): before | during | node RSS MB before → after |",
    "|---|---|---|---|---|",
    ...rows.map(
      (row) =>
        `| ${row.attack} | ${row.refused.replaceAll("|", "/")} | ${fmt(row.baseline)} | ${fmt(row.during)} | ${row.rssBefore.join(", ")} → ${row.rssAfter.join(", ")} |`,
    ),
    `| sends at the allowed rate (${extra.acked} × 20/s) | not refused (allowed): ${extra.bytesPerSend} Redis bytes per acknowledged send after flushing, held for the idempotency window | | | |`,
    "",
    `Node RSS at the start ${extra.rssBaseline.join(", ")} MB, at the end (${extra.settleMs / 1000} s after the last attack, no forced GC) ${extra.rssEnd.join(", ")} MB. Connections per attacker: ${extra.connections} (9,000 scaled to the descriptor limit ${extra.fdLimit}).`,
    `After an address-level flood the gateway kept refusing new connections from 127.0.0.1 (the canary's held socket stayed served) for, in seconds: ${JSON.stringify(extra.shedSeconds)}; the suite waits for it before the next attack.`,
    "<!-- abuse-table:end -->",
  ];
  const text = readFileSync(file, "utf8");
  const begin = text.indexOf("<!-- abuse-table:begin");
  const end = text.indexOf("<!-- abuse-table:end -->");
  if (begin < 0 || end < 0) throw new Error(`${file} lacks the abuse-table markers`);
  writeFileSync(file, `${text.slice(0, begin)}${lines.join("\n")}${text.slice(end + "<!-- abuse-table:end -->".length)}`);
  log(`table written to docs/security.md`);
}
