import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { kernelCollector } from "./kernel.js";
import type { KernelFacts } from "./kernel.js";
import { pingAllowed } from "./ping.js";
import { apparmorUserNs, idmapHelpers, maxUserNamespaces, userNsClone } from "./checks.js";
import { iptablesModules, pingGroupRange, privilegedPorts } from "./network-checks.js";
import {
  inotifyInstances,
  maxUserNamespacesLow,
  rootPropagation,
  selinuxMode,
} from "./limit-checks.js";
import { selinuxModes } from "../../host/kernel-parsers.js";

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
  selinuxMode: gauge(
    "rootless_selinux_mode",
    ["mode"],
    "1 for SELinux's current mode (enforcing, permissive, disabled: no /sys/fs/selinux/enforce), 0 for the others.",
  ),
  rootMountShared: gauge(
    "rootless_root_mount_shared",
    [],
    "Whether / is a shared mount in the host's mount table (rootlesskit's --propagation=rslave needs it).",
  ),
  inotifyInstances: gauge(
    "rootless_inotify_instances",
    ["user"],
    "inotify instances open in the user's own processes the exporter may read (descriptors; absent when the count was cut short).",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

function addKernel(out: Out, target: Target, facts: KernelFacts): void {
  if (facts.pingGroupRange) {
    const allowed = pingAllowed(facts.pingGroupRange, target.groups);
    out.add("pingAllowed", { user: target.name }, bool(allowed));
  }
  const inotify = facts.inotify?.[target.uid];
  if (inotify?.complete) out.add("inotifyInstances", { user: target.name }, inotify.instances);
  addKernelHost(out, facts);
}

/** The kernel's series, the same for every user (and there even when nobody is watched). */
function addKernelHost(out: Out, facts: KernelFacts): void {
  for (const [sysctl, value] of Object.entries(facts.sysctls).sort()) {
    out.add("sysctlValue", { sysctl }, value);
  }
  if (facts.selinux) {
    for (const mode of selinuxModes) out.add("selinuxMode", { mode }, bool(facts.selinux === mode));
  }
  if (facts.rootMount) out.add("rootMountShared", {}, bool(facts.rootMount.shared));
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
    inotifyInstances,
    iptablesModules,
    maxUserNamespaces,
    maxUserNamespacesLow,
    pingGroupRange,
    privilegedPorts,
    rootPropagation,
    selinuxMode,
    userNsClone,
  ],
});
