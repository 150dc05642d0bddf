import type { FactsByCollector } from "../../src/collectors/registry.js";
import { exposition } from "../../src/exporter/render/exposition.js";
import type { SamplesInput } from "../../src/exporter/render/samples.js";
import { samplesFrom } from "../../src/exporter/render/samples.js";
import type { CollectorState } from "../../src/exporter/schedule/ledger.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice, healthyFacts } from "./healthy-facts.js";

// What the rendering tests (render-chunks, render-chunk-bytes, render-success-lines) give the
// renderers: healthy users in host mode, and the whole rendering their bodies are compared with.

export const healthy = healthyFacts();
/** The host's facts, merged into every user's view as the host-mode watch does. */
export const hostFacts: Partial<FactsByCollector> = { kernel: healthy.kernel };

/** alice's target under another name and uid. */
export const user = (name: string, uid: number): Target => ({
  ...alice,
  name,
  uid,
  gid: uid,
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
});

/** A user's view: a new object each call, so the renderer sees it as changed. */
export const view = (target: Target, facts: Partial<FactsByCollector> = healthy, complete = true) =>
  ({
    target,
    facts: { ...hostFacts, ...facts },
    complete,
    errors: [],
  }) as TargetView<FactsByCollector>;

/**
 * A host-mode snapshot of `views`: no collectors' states unless given, and by default one
 * successful docker run per user.
 */
export function renderInput(
  views: readonly TargetView<FactsByCollector>[],
  options: {
    collectors?: readonly CollectorState[];
    userRuns?: SamplesInput["userRuns"];
  } = {},
): SamplesInput {
  return {
    collectors: options.collectors ?? [],
    views,
    host: hostFacts,
    hostFindings: [],
    mode: "host",
    userRuns:
      options.userRuns ??
      views.map((v) => ({ collector: "docker", user: v.target.name, ok: true })),
    build: { version: "0.0.0", nodejsVersion: "v20" },
  };
}

/** The whole (not incremental) rendering of a snapshot. */
export const whole = (samples: SamplesInput): string => exposition(samplesFrom(samples));

/** A small deterministic generator (mulberry32), so a failure is the same on every run. */
export function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
