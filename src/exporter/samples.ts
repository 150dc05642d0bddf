import type { CgroupFacts } from "../collectors/cgroup.js";
import { watchedControllers } from "../collectors/cgroup.js";
import type { KernelFacts } from "../collectors/kernel.js";
import type { LingerFacts } from "../collectors/linger.js";
import type { FactsByCollector } from "../collectors/registry.js";
import type { SubidFacts } from "../collectors/subid.js";
import type { Target } from "../host/target.js";
import { addFindings, findingsFrom } from "./findings.js";
import { addDbus, addDocker, addNetwork, addProbe, addRootlesskit } from "./samples-daemon.js";
import { bool, SampleSet } from "./sample-set.js";
import type { CollectorState } from "./scheduler.js";

function addSubid(out: SampleSet, user: string, facts: SubidFacts): void {
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

function addCgroup(out: SampleSet, user: string, facts: CgroupFacts): void {
  if (facts.version !== undefined) out.add("cgroupVersion", {}, facts.version);
  const delegated = facts.delegated;
  if (!delegated) return;
  for (const controller of watchedControllers) {
    out.add("cgroupDelegated", { user, controller }, bool(delegated.includes(controller)));
  }
}

function addKernel(out: SampleSet, user: string, facts: KernelFacts): void {
  for (const [sysctl, value] of Object.entries(facts.sysctls).sort()) {
    out.add("sysctlValue", { sysctl }, value);
  }
  if (facts.pingAllowed !== undefined) out.add("pingAllowed", { user }, bool(facts.pingAllowed));
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

function addLinger(out: SampleSet, user: string, facts: LingerFacts): void {
  if (facts.enabled !== undefined) out.add("lingerEnabled", { user }, bool(facts.enabled));
}

type Adder<K extends keyof FactsByCollector> = (
  out: SampleSet,
  user: string,
  facts: FactsByCollector[K],
) => void;
const adders: { [K in keyof FactsByCollector]: Adder<K> } = {
  cgroup: addCgroup,
  dbus: addDbus,
  docker: addDocker,
  kernel: addKernel,
  linger: addLinger,
  network: addNetwork,
  probe: addProbe,
  rootlesskit: addRootlesskit,
  subid: addSubid,
};

export interface BuildInfo {
  readonly version: string;
  readonly nodejsVersion: string;
}

/** Turns the scheduler's latest states into series; never runs or waits on a collector. */
export function samplesFrom(
  states: readonly CollectorState[],
  target: Target,
  build: BuildInfo,
): SampleSet {
  const out = new SampleSet();
  out.add("buildInfo", { version: build.version, nodejs_version: build.nodejsVersion }, 1);
  out.add(
    "targetInfo",
    { user: target.name, uid: String(target.uid), runtime_dir: target.runtimeDir },
    1,
  );
  for (const state of states) {
    if (state.ok === undefined) continue;
    const collector = { collector: state.name };
    out.add("collectorSuccess", collector, bool(state.ok));
    out.add("collectorDuration", collector, state.durationSeconds ?? 0);
    if (state.lastSuccessAt !== undefined) {
      out.add("collectorLastSuccess", collector, state.lastSuccessAt / 1000);
    }
    out.add("collectorErrors", collector, state.errorsTotal);
  }
  for (const state of states) {
    if (!state.ok || !(state.name in adders)) continue;
    const name = state.name as keyof FactsByCollector;
    (adders[name] as Adder<typeof name>)(
      out,
      target.name,
      state.facts as FactsByCollector[typeof name],
    );
  }
  // Compliance is judged once every collector has reported, never on half the facts.
  if (states.length > 0 && states.every((state) => state.ok !== undefined)) {
    addFindings(out, target.name, findingsFrom(states, target));
  }
  return out;
}
