/** The command line of `npm run bench`: which settings, which parts, whether to profile. */
import { FULL, QUICK, type BenchSettings } from "./settings.js";

const FLAGS = ["--quick", "--profile"];
/** `--only=fanout,flush`: run just these parts (to iterate on one); prints figures, writes nothing. */
export const PARTS = ["fanout", "cluster", "ingest", "changes", "memory", "flush", "centrifugo", "redis-cluster"] as const;
export type Part = (typeof PARTS)[number];

export interface BenchArguments {
  settings: BenchSettings;
  /** The parts of `--only`, or undefined for a whole run (the only one that writes results). */
  only: ReadonlySet<string> | undefined;
  wanted: (part: Part) => boolean;
  /** --profile: CPU profiles of the servers and heap snapshots around the memory scenario (slower; figures perturbed). */
  profiling: boolean;
}

/** The run `args` (process.argv without node and the script) asks for, or the usage error to print. */
export function parseBenchArguments(args: readonly string[]): BenchArguments | { error: string } {
  const onlyArg = args.find((arg) => arg.startsWith("--only="));
  const only = onlyArg ? new Set(onlyArg.slice("--only=".length).split(",")) : undefined;
  const unknown = args.filter((arg) => !FLAGS.includes(arg) && arg !== onlyArg);
  const unknownParts = [...(only ?? [])].filter((part) => !(PARTS as readonly string[]).includes(part));
  if (unknown.length > 0 || unknownParts.length > 0) {
    return {
      error: `unknown argument ${[...unknown, ...unknownParts].join(" ")}\nusage: npm run bench [-- --quick] [-- --profile] [-- --only=${PARTS.join(",")}]`,
    };
  }
  return {
    settings: args.includes("--quick") ? QUICK : FULL,
    only,
    wanted: (part) => only === undefined || only.has(part),
    profiling: args.includes("--profile"),
  };
}
