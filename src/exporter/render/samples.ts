import type { Finding } from "../../checks/finding.js";
import type { MetricDef } from "../../collectors/module.js";
import type { CollectorModule } from "../../collectors/module.js";
import type { FactsByCollector } from "../../collectors/registry.js";
import { moduleList } from "../../collectors/registry.js";
import type { CollectorState } from "../schedule/ledger.js";
import type { TargetView } from "../schedule/views.js";
import { addFindings, addHostFindings, findingsFor } from "./findings.js";
import { bool, SampleSet } from "./sample-set.js";
import type { SeriesSink } from "./sample-set.js";
import { atOnce, itemsPerStep } from "./slices.js";

/** Each module renders its own facts; here they are seen alike (the registry typed each one). */
type AnyModule = CollectorModule<string, unknown, Record<string, MetricDef>>;
const renderers = moduleList as unknown as readonly AnyModule[];

export interface BuildInfo {
  readonly version: string;
  readonly nodejsVersion: string;
}

/**
 * Series of one user: their facts and, once every collector has reported, their findings. A pure
 * function of the view's target, facts and completeness (user-chunk.ts reuses its output while
 * those are the same objects): module renders and checks read nothing else, not even the clock.
 */
export function addTarget(out: SeriesSink, view: TargetView<FactsByCollector>): void {
  const { target, facts } = view;
  out.add(
    "targetInfo",
    { user: target.name, uid: String(target.uid), runtime_dir: target.runtimeDir },
    1,
  );
  const known = facts as Readonly<Record<string, unknown>>;
  for (const module of renderers) {
    const value = known[module.name];
    if (value !== undefined) module.render(out, target, value);
  }
  // Compliance is judged once every collector has reported, never on half the facts.
  if (view.complete) addFindings(out, target.name, findingsFor(view));
}

/** Turns the scheduler's latest states into series; never runs or waits on a collector. */
export interface SamplesInput {
  readonly collectors: readonly CollectorState[];
  readonly views: readonly TargetView<FactsByCollector>[];
  readonly host: Partial<FactsByCollector>;
  /** The host checks alone; written only when nobody is watched (else each user's carry them). */
  readonly hostFindings?: readonly Finding[] | undefined;
  readonly mode: string;
  readonly userRuns: readonly { collector: string; user: string; ok: boolean }[];
  readonly build: BuildInfo;
}

export function samplesFrom(input: SamplesInput): SampleSet {
  const out = new SampleSet();
  atOnce(sampleSteps(input, out));
  return out;
}

/** Adds the series to `out`, a user (or a few hundred of the exporter's own series) a step. */
export function* sampleSteps(input: SamplesInput, out: SampleSet): Generator<void> {
  yield* preludeSteps(input, out);
  for (const view of input.views) {
    addTarget(out, view);
    yield;
  }
  addTrailer(input, out);
}

/**
 * The series written before any user's: the exporter's own and the host's, in steps (one per
 * user and collector: 90,000 series at 10,000 users). `userRuns`, when given, writes the
 * rootless_collector_user_success series its own way (as bytes, success-lines.ts) and says
 * whether it did; they are written one by one otherwise.
 */
export function* preludeSteps(
  input: SamplesInput,
  out: SeriesSink,
  userRuns?: (runs: SamplesInput["userRuns"]) => boolean,
): Generator<void> {
  const { build } = input;
  out.add("buildInfo", { version: build.version, nodejs_version: build.nodejsVersion }, 1);
  out.add("targetsWatched", { mode: input.mode }, input.views.length);
  for (const state of input.collectors) {
    if (state.ok === undefined) continue;
    const collector = { collector: state.name };
    out.add("collectorSuccess", collector, bool(state.ok));
    out.add("collectorDuration", collector, state.durationSeconds ?? 0);
    if (state.lastSuccessAt !== undefined) {
      out.add("collectorLastSuccess", collector, state.lastSuccessAt / 1000);
    }
    out.add("collectorErrors", collector, state.errorsTotal);
  }
  if (!userRuns?.(input.userRuns)) {
    let done = 0;
    for (const run of input.userRuns) {
      out.add("collectorUserSuccess", { collector: run.collector, user: run.user }, bool(run.ok));
      if (++done % itemsPerStep === 0) yield;
    }
  } else yield;
  const host = input.host as Readonly<Record<string, unknown>>;
  for (const module of renderers) {
    const value = host[module.name];
    if (value !== undefined) module.renderHost?.(out, value);
  }
}

/** The series written after every user's: the host checks, when nobody is watched. */
export function addTrailer(input: SamplesInput, out: SeriesSink): void {
  if (input.views.length === 0) addHostFindings(out, input.hostFindings ?? []);
}
