#!/usr/bin/env node
// The entry point. The V8 heap's sizing is set before the daemon's modules are loaded: loading
// them (the collectors, prom-client, pino, node-cron) is what first grew the young generation
// (see exporter/heap.ts and docs/performance.md, "The per-user daemon's own memory"). This module
// imports nothing else until then.
import type { HeapTuning } from "./run.js";
import { YoungGenerationCap, oneUserYoungGenerationCapBytes, tuneHeap } from "./exporter/heap.js";

function tuneHeapAtStart(argv: readonly string[]): HeapTuning {
  // `check` runs one collection and exits: V8's defaults, as before.
  if (argv[0] === "check") return { flags: [], young: undefined };
  const flags = tuneHeap();
  // With the heap's sizing left to us, the young generation stays small too: one user's size
  // until the mode is known (run.ts raises it for host mode).
  const young =
    flags.length > 0 ? new YoungGenerationCap(oneUserYoungGenerationCapBytes) : undefined;
  young?.start();
  return { flags, young };
}

const argv = process.argv.slice(2);
const heap = tuneHeapAtStart(argv);
import("./run.js")
  .then(({ main }) => main(argv, heap))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `rootless-exporter: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`,
      );
      process.exitCode = 1;
    },
  );
