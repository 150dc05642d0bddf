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
  checks: [dataRootNfs, dockerdRunning, xdgRuntimeDir],
});
