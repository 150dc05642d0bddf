import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, counter, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { dockerCollector } from "./docker.js";
import type { DockerFacts } from "./docker.js";
import {
  cgroupDriverValues,
  cgroupVersionValues,
  closedLabel,
  pathLabel,
  wordLabel,
} from "../label-values.js";
import { dataRootNfs, dockerdRunning, xdgRuntimeDir } from "./checks.js";
import { dataRootFull, dataRootSpace } from "./data-root-checks.js";
import {
  dockerApiTls,
  dockerCgroups,
  dockerIpv4Forwarding,
  dockerResourceLimits,
} from "./warning-checks.js";
import { warningIds } from "./warnings.js";

const metrics = {
  dockerdUp: gauge(
    "rootless_dockerd_up",
    ["user"],
    "Whether docker.pid names a live dockerd of the user.",
  ),
  dockerdRestarts: counter(
    "rootless_dockerd_restarts_total",
    ["user"],
    "New dockerd processes (pid and start time) seen since the exporter began watching the user.",
  ),
  dockerApiUp: gauge(
    "rootless_docker_api_up",
    ["user"],
    "Whether the Engine API on docker.sock answered: GET /info with a valid body, else GET /_ping OK.",
  ),
  dockerInfo: gauge(
    "rootless_docker_info",
    ["user", "version", "storage_driver", "cgroup_driver", "cgroup_version", "rootless"],
    "dockerd's version, storage and cgroup drivers; value 1.",
  ),
  dockerContainers: gauge(
    "rootless_docker_containers",
    ["user", "state"],
    "Containers of the user's dockerd by state (running, paused, stopped).",
  ),
  dockerDataRootFilesystem: gauge(
    "rootless_docker_data_root_filesystem_info",
    ["user", "path", "fstype"],
    "Filesystem type under dockerd's data root, as in /proc/PID/mountinfo; value 1.",
  ),
  dataRootSize: gauge(
    "rootless_docker_data_root_size_bytes",
    ["user"],
    "Size of the filesystem under dockerd's data root (statfs of the user's directory).",
  ),
  dataRootFree: gauge(
    "rootless_docker_data_root_free_bytes",
    ["user"],
    "Bytes an unprivileged user may still write under dockerd's data root (statfs f_bavail).",
  ),
  dataRootInodes: gauge(
    "rootless_docker_data_root_inodes",
    ["user"],
    "Inodes of the filesystem under dockerd's data root; absent where it has no fixed count (btrfs, ZFS).",
  ),
  dataRootFreeInodes: gauge(
    "rootless_docker_data_root_free_inodes",
    ["user"],
    "Free inodes of the filesystem under dockerd's data root.",
  ),
  dataRootDtype: gauge(
    "rootless_docker_data_root_dtype_supported",
    ["user"],
    "Whether the data root's filesystem gives entry types (d_type), which overlay needs; read from its existing entries, absent when not told.",
  ),
  dockerWarnings: gauge(
    "rootless_docker_warnings",
    ["user"],
    "Warnings in dockerd's GET /info (Warnings).",
  ),
  dockerWarning: gauge(
    "rootless_docker_warning",
    ["user", "warning"],
    "Warnings in dockerd's GET /info by closed id (moby's texts; anything else is other); only ids present.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

export function addDocker(out: Out, user: string, facts: DockerFacts): void {
  // Unknown (docker.pid unreadable or refused) is absent, never 0 (METRICS.md).
  if (facts.dockerdUp !== undefined) out.add("dockerdUp", { user }, bool(facts.dockerdUp));
  if (facts.dockerdRestarts !== undefined)
    out.add("dockerdRestarts", { user }, facts.dockerdRestarts);
  out.add("dockerApiUp", { user }, bool(facts.apiUp));
  const info = facts.info;
  if (info) {
    out.add(
      "dockerInfo",
      {
        user,
        version: wordLabel(info.version ?? ""),
        storage_driver: wordLabel(info.storageDriver ?? ""),
        cgroup_driver: closedLabel(info.cgroupDriver ?? "", cgroupDriverValues),
        cgroup_version: closedLabel(info.cgroupVersion ?? "", cgroupVersionValues),
        rootless: String(info.rootless),
      },
      1,
    );
    for (const state of ["running", "paused", "stopped"] as const) {
      out.add("dockerContainers", { user, state }, info.containers[state]);
    }
    if (info.warnings) {
      out.add("dockerWarnings", { user }, info.warnings.total);
      for (const warning of warningIds) {
        const n = info.warnings.byId[warning];
        if (n !== undefined) out.add("dockerWarning", { user, warning }, n);
      }
    }
  }
  const usage = facts.dataRootUsage;
  if (usage && !("unverified" in usage)) {
    out.add("dataRootSize", { user }, usage.sizeBytes);
    out.add("dataRootFree", { user }, usage.freeBytes);
    if (usage.inodes !== undefined) out.add("dataRootInodes", { user }, usage.inodes);
    if (usage.freeInodes !== undefined) out.add("dataRootFreeInodes", { user }, usage.freeInodes);
    if (usage.dtype !== undefined) out.add("dataRootDtype", { user }, bool(usage.dtype));
  }
  if (facts.dataRoot) {
    out.add(
      "dockerDataRootFilesystem",
      { user, path: pathLabel(facts.dataRoot.path), fstype: wordLabel(facts.dataRoot.fsType) },
      1,
    );
  }
}

export const dockerModule = collectorModule({
  name: "docker",
  collector: dockerCollector,
  metrics,
  render: (out, target: Target, facts) => addDocker(out, target.name, facts),
  checks: [
    dataRootFull,
    dataRootNfs,
    dataRootSpace,
    dockerApiTls,
    dockerCgroups,
    dockerIpv4Forwarding,
    dockerResourceLimits,
    dockerdRunning,
    xdgRuntimeDir,
  ],
});
