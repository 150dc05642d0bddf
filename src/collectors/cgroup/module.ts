import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, counter, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { cgroupCollector, pressureResources, watchedControllers } from "./cgroup.js";
import type { CgroupFacts } from "./cgroup.js";
import { cgroupDelegation, cgroupV2, systemdOomd } from "./checks.js";

const metrics = {
  cgroupVersion: gauge(
    "rootless_cgroup_version",
    [],
    "2 on a pure cgroup v2 (unified) hierarchy, 1 on v1 or hybrid.",
  ),
  cgroupDelegated: gauge(
    "rootless_cgroup_controller_delegated",
    ["user", "controller"],
    "Whether the controller is listed in user@UID.service's cgroup.controllers.",
  ),
  pressureSeconds: counter(
    "rootless_user_pressure_seconds_total",
    ["user", "resource", "kind"],
    "Time some (kind=some) or all (kind=full) tasks of user@UID.service stalled on cpu, io or memory (PSI total; cgroup v2).",
  ),
  oomdWatched: gauge(
    "rootless_systemd_oomd_watched",
    ["user"],
    "1 when systemd-oomd runs and ManagedOOMMemoryPressure=kill is set on user@UID.service or a slice above it.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

function addCgroup(out: Out, { name: user }: Target, facts: CgroupFacts): void {
  if (facts.version !== undefined) out.add("cgroupVersion", {}, facts.version);
  for (const resource of pressureResources) {
    const pressure = facts.pressure?.[resource];
    for (const kind of ["some", "full"] as const) {
      const line = pressure?.[kind];
      if (line) out.add("pressureSeconds", { user, resource, kind }, line.totalMicroseconds / 1e6);
    }
  }
  if (facts.oomd) out.add("oomdWatched", { user }, bool(facts.oomd.watchedBy !== undefined));
  const delegated = facts.delegated;
  if (!delegated) return;
  for (const controller of watchedControllers) {
    out.add("cgroupDelegated", { user, controller }, bool(delegated.includes(controller)));
  }
}

export const cgroupModule = collectorModule({
  name: "cgroup",
  collector: cgroupCollector,
  metrics,
  render: addCgroup,
  checks: [cgroupDelegation, cgroupV2, systemdOomd],
});
