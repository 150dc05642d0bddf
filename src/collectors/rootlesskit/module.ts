import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, counter, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { rootlesskitCollector } from "./rootlesskit.js";
import type { RootlesskitFacts } from "./rootlesskit.js";
import {
  closedLabel,
  networkDriverValues,
  pathLabel,
  portDriverValues,
  protoLabel,
  wordLabel,
} from "../label-values.js";
import { rootlesskitRunning, stateDirStale } from "./checks.js";

const metrics = {
  rootlesskitUp: gauge(
    "rootless_rootlesskit_up",
    ["user"],
    "Whether the rootlesskit parent process of the user is alive.",
  ),
  rootlesskitApiUp: gauge(
    "rootless_rootlesskit_api_up",
    ["user"],
    "Whether GET /v1/info on rootlesskit's api.sock answered.",
  ),
  rootlesskitInfo: gauge(
    "rootless_rootlesskit_info",
    ["user", "version", "api_version", "network_driver", "port_driver", "state_dir"],
    "rootlesskit's version, API version, drivers and state dir; value 1.",
  ),
  rootlesskitDetachNetns: gauge(
    "rootless_rootlesskit_detach_netns",
    ["user"],
    "1 when rootlesskit runs with --detach-netns: the child is in the host's network namespace, the containers' in STATE/netns.",
  ),
  rootlesskitStartTime: gauge(
    "rootless_rootlesskit_start_time_seconds",
    ["user"],
    "Start time of the rootlesskit parent process, Unix time.",
  ),
  rootlesskitRestarts: counter(
    "rootless_rootlesskit_restarts_total",
    ["user"],
    "New rootlesskit parent processes (pid and start time) seen since the exporter began watching the user.",
  ),
  rootlesskitStateDirStale: gauge(
    "rootless_rootlesskit_state_dir_stale",
    ["user"],
    "1 when the state dir's child_pid or lock points to a dead process.",
  ),
  rootlesskitPorts: gauge(
    "rootless_rootlesskit_ports",
    ["user", "proto"],
    "Ports forwarded by rootlesskit's port driver (GET /v1/ports); proto is tcp, udp, sctp or other.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

export function addRootlesskit(out: Out, user: string, facts: RootlesskitFacts): void {
  out.add("rootlesskitUp", { user }, bool(facts.up));
  out.add("rootlesskitApiUp", { user }, bool(facts.apiUp));
  const info = facts.info;
  if (info) {
    out.add(
      "rootlesskitInfo",
      {
        user,
        version: wordLabel(info.version ?? ""),
        api_version: wordLabel(info.apiVersion ?? ""),
        network_driver: closedLabel(info.networkDriver?.driver ?? "", networkDriverValues),
        port_driver: closedLabel(info.portDriver?.driver ?? "", portDriverValues),
        state_dir: pathLabel(info.stateDir ?? facts.stateDir?.path ?? ""),
      },
      1,
    );
  }
  if (facts.detachNetns !== undefined)
    out.add("rootlesskitDetachNetns", { user }, bool(facts.detachNetns));
  if (facts.startTimeSeconds !== undefined)
    out.add("rootlesskitStartTime", { user }, facts.startTimeSeconds);
  if (facts.restarts !== undefined) out.add("rootlesskitRestarts", { user }, facts.restarts);
  if (facts.stateDirStale !== undefined)
    out.add("rootlesskitStateDirStale", { user }, bool(facts.stateDirStale));
  if (facts.ports) {
    // tcp and udp are always reported, so "no forwards" reads 0 rather than nothing.
    const byProto = new Map<string, number>([
      ["tcp", 0],
      ["udp", 0],
    ]);
    for (const port of facts.ports) {
      // A closed set: the answer is the user's, and each new value would be a series.
      const proto = protoLabel(port.proto);
      byProto.set(proto, (byProto.get(proto) ?? 0) + 1);
    }
    for (const proto of [...byProto.keys()].sort()) {
      out.add("rootlesskitPorts", { user, proto }, byProto.get(proto) ?? 0);
    }
  }
}

export const rootlesskitModule = collectorModule({
  name: "rootlesskit",
  collector: rootlesskitCollector,
  metrics,
  render: (out, target: Target, facts) => addRootlesskit(out, target.name, facts),
  checks: [rootlesskitRunning, stateDirStale],
});
