import type { CgroupFacts } from "../../collectors/cgroup/cgroup.js";
import { watchedControllers } from "../../collectors/cgroup/cgroup.js";
import type { KernelFacts } from "../../collectors/kernel/kernel.js";
import type { LingerFacts } from "../../collectors/linger/linger.js";
import type { CollectorName, FactsByCollector } from "../../collectors/registry.js";
import { pingAllowed } from "../../checks/ping.js";
import type { SubidFacts } from "../../collectors/subid/subid.js";
import type { Target } from "../../host/target.js";
import type { Finding } from "../../checks/finding.js";
import { addFindings, addHostFindings, findingsFor } from "./findings.js";
import {
  addDbus,
  addDocker,
  addNetwork,
  addProbe,
  addRootlesskit,
} from "../../collectors/rootlesskit/module.js";
import { bool, SampleSet } from "./sample-set.js";
import type { CollectorState, TargetView } from "../schedule/scheduler.js";

function addSubid(out: SampleSet, { name: user }: Target, facts: SubidFacts): void {
  for (const kind of ["uid", "gid"] as const) {
    const file = facts[kind];
    if (file.state === "ok" || file.state === "missing") {
      out.add("subidParseErrors", { file: file.path }, file.parseErrors);
    }
    if (!file.summary) continue;
    out.add("subidRangeSize", { user, kind }, file.summary.size);
    out.add("subidRanges", { user, kind }, file.summary.ranges);
    out.add("subidOverlaps", { user, kind }, file.summary.overlaps);
  }
}

function addCgroup(out: SampleSet, { name: user }: Target, facts: CgroupFacts): void {
  if (facts.version !== undefined) out.add("cgroupVersion", {}, facts.version);
  const delegated = facts.delegated;
  if (!delegated) return;
  for (const controller of watchedControllers) {
    out.add("cgroupDelegated", { user, controller }, bool(delegated.includes(controller)));
  }
}

function addKernel(out: SampleSet, target: Target, facts: KernelFacts): void {
  if (facts.pingGroupRange) {
    const allowed = pingAllowed(facts.pingGroupRange, target.groups);
    out.add("pingAllowed", { user: target.name }, bool(allowed));
  }
  addKernelHost(out, facts);
}

/** The kernel's series, the same for every user (and there even when nobody is watched). */
function addKernelHost(out: SampleSet, facts: KernelFacts): void {
  for (const [sysctl, value] of Object.entries(facts.sysctls).sort()) {
    out.add("sysctlValue", { sysctl }, value);
  }
  for (const [module, loaded] of Object.entries(facts.modules ?? {})) {
    out.add("moduleLoaded", { module }, bool(loaded));
  }
  for (const [driver, verdict] of Object.entries(facts.storageDrivers).sort()) {
    if (verdict) out.add("storageDriverSupported", { driver }, bool(verdict.ok));
  }
  for (const [helper, verdict] of Object.entries(facts.idmapHelpers).sort()) {
    if (verdict) out.add("idmapHelperOk", { helper }, bool(verdict.ok));
  }
}

function addLinger(out: SampleSet, { name: user }: Target, facts: LingerFacts): void {
  if (facts.enabled !== undefined) out.add("lingerEnabled", { user }, bool(facts.enabled));
}

type Adder<K extends CollectorName> = (
  out: SampleSet,
  target: Target,
  facts: FactsByCollector[K],
) => void;
const adders: { [K in CollectorName]: Adder<K> } = {
  cgroup: addCgroup,
  dbus: (out, target, facts) => addDbus(out, target.name, facts),
  docker: (out, target, facts) => addDocker(out, target.name, facts),
  kernel: addKernel,
  linger: addLinger,
  network: (out, target, facts) => addNetwork(out, target.name, facts),
  probe: (out, target, facts) => addProbe(out, target.name, facts),
  rootlesskit: (out, target, facts) => addRootlesskit(out, target.name, facts),
  subid: addSubid,
};

export interface BuildInfo {
  readonly version: string;
  readonly nodejsVersion: string;
}

/** Series of one user: their facts and, once every collector has reported, their findings. */
function addTarget(out: SampleSet, view: TargetView<FactsByCollector>): void {
  const { target, facts } = view;
  out.add(
    "targetInfo",
    { user: target.name, uid: String(target.uid), runtime_dir: target.runtimeDir },
    1,
  );
  for (const name of Object.keys(adders) as CollectorName[]) addFacts(out, target, name, facts);
  // Compliance is judged once every collector has reported, never on half the facts.
  if (view.complete) addFindings(out, target.name, findingsFor(view));
}

function addFacts<K extends CollectorName>(
  out: SampleSet,
  target: Target,
  name: K,
  facts: Partial<FactsByCollector>,
): void {
  const value = facts[name];
  if (value !== undefined) (adders[name] as Adder<K>)(out, target, value);
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
  for (const step of sampleSteps(input, out)) void step;
  return out;
}

/**
 * samplesFrom, letting the event loop in every `batch` users: 1,000 users' findings and series
 * at once held scrapes for a third of a second.
 */
export async function samplesInSteps(input: SamplesInput, batch = 50): Promise<SampleSet> {
  const out = new SampleSet();
  let done = 0;
  for (const step of sampleSteps(input, out)) {
    void step;
    if (++done % batch === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return out;
}

/** Adds the series to `out`, one user per step. */
function* sampleSteps(input: SamplesInput, out: SampleSet): Generator<void> {
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
  for (const run of input.userRuns) {
    out.add("collectorUserSuccess", { collector: run.collector, user: run.user }, bool(run.ok));
  }
  if (input.host.kernel) addKernelHost(out, input.host.kernel);
  for (const view of input.views) {
    addTarget(out, view);
    yield;
  }
  if (input.views.length === 0) addHostFindings(out, input.hostFindings ?? []);
}
