import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { kernelCollector } from "./kernel.js";
import type { KernelFacts } from "./kernel.js";
import { pingAllowed } from "./ping.js";
import { apparmorUserNs, idmapHelpers, maxUserNamespaces, userNsClone } from "./checks.js";
import { iptablesModules, pingGroupRange, privilegedPorts } from "./network-checks.js";

const metrics = {
  sysctlValue: gauge(
    "rootless_sysctl_value",
    ["sysctl"],
    "Value of a sysctl that rootless Docker depends on (only those the kernel has).",
  ),
  pingAllowed: gauge(
    "rootless_ping_allowed",
    ["user"],
    "Whether one of the user's groups falls in net.ipv4.ping_group_range.",
  ),
  moduleLoaded: gauge(
    "rootless_kernel_module_loaded",
    ["module"],
    "Whether the kernel module is loaded or built in.",
  ),
  storageDriverSupported: gauge(
    "rootless_storage_driver_supported",
    ["driver"],
    "Whether this kernel and host can run the storage driver rootless.",
  ),
  idmapHelperOk: gauge(
    "rootless_idmap_helper_ok",
    ["helper"],
    "newuidmap/newgidmap present and setuid root or carrying the needed file capability.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

function addKernel(out: Out, target: Target, facts: KernelFacts): void {
  if (facts.pingGroupRange) {
    const allowed = pingAllowed(facts.pingGroupRange, target.groups);
    out.add("pingAllowed", { user: target.name }, bool(allowed));
  }
  addKernelHost(out, facts);
}

/** The kernel's series, the same for every user (and there even when nobody is watched). */
function addKernelHost(out: Out, facts: KernelFacts): void {
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

export const kernelModule = collectorModule({
  name: "kernel",
  collector: kernelCollector,
  metrics,
  render: addKernel,
  renderHost: addKernelHost,
  checks: [
    apparmorUserNs,
    idmapHelpers,
    iptablesModules,
    maxUserNamespaces,
    pingGroupRange,
    privilegedPorts,
    userNsClone,
  ],
});
