import type { DbusFacts } from "../dbus/dbus.js";
import { unitStates } from "../dbus/dbus.js";
import type { DockerFacts } from "../docker/docker.js";
import type { NetworkFacts } from "../network/network.js";
import type { ProbeFacts } from "../probe/probe.js";
import type { RootlesskitFacts } from "./rootlesskit.js";
import type { MetricKey } from "../../exporter/catalogue.js";
import {
  cgroupDriverValues,
  cgroupVersionValues,
  closedLabel,
  devicesShown,
  networkDriverValues,
  overflowDevice,
  pathLabel,
  portDriverValues,
  protoLabel,
  wordLabel,
} from "../label-values.js";
import { bool } from "../../exporter/render/sample-set.js";
import type { SampleSet } from "../../exporter/render/sample-set.js";

/** Series of the live daemon collectors: rootlesskit, docker, network, dbus. */

export function addRootlesskit(out: SampleSet, user: string, facts: RootlesskitFacts): void {
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
  if (facts.startTimeSeconds !== undefined)
    out.add("rootlesskitStartTime", { user }, facts.startTimeSeconds);
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

export function addDocker(out: SampleSet, user: string, facts: DockerFacts): void {
  // Unknown (docker.pid unreadable or refused) is absent, never 0 (METRICS.md).
  if (facts.dockerdUp !== undefined) out.add("dockerdUp", { user }, bool(facts.dockerdUp));
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

const interfaceCounters: readonly [
  MetricKey,
  keyof NonNullable<NetworkFacts["interfaces"]>[number],
][] = [
  ["networkReceiveBytes", "receiveBytes"],
  ["networkTransmitBytes", "transmitBytes"],
  ["networkReceivePackets", "receivePackets"],
  ["networkTransmitPackets", "transmitPackets"],
  ["networkReceiveDrop", "receiveDrop"],
  ["networkTransmitDrop", "transmitDrop"],
  ["networkReceiveErrs", "receiveErrs"],
  ["networkTransmitErrs", "transmitErrs"],
];

export function addNetwork(out: SampleSet, user: string, facts: NetworkFacts): void {
  const driver =
    facts.driver === undefined ? undefined : closedLabel(facts.driver, networkDriverValues);
  if (driver !== undefined && facts.driverUp !== undefined)
    out.add("networkDriverUp", { user, driver }, bool(facts.driverUp));
  if (driver !== undefined && facts.driverProcess) {
    out.add("networkDriverCpu", { user, driver }, facts.driverProcess.cpuSeconds);
    if (facts.driverProcess.rssBytes !== undefined)
      out.add("networkDriverRss", { user, driver }, facts.driverProcess.rssBytes);
  }
  if (facts.mtu !== undefined) out.add("networkMtu", { user }, facts.mtu);
  // Devices are made at will in the user's namespace: capped, the rest summed in one series.
  const interfaces = facts.interfaces ?? [];
  const shown = devicesShown(interfaces.map((i) => i.device));
  for (const [metric, field] of interfaceCounters) {
    let overflow: number | undefined;
    for (const counters of interfaces) {
      const value = counters[field];
      if (typeof value !== "number") continue;
      if (shown.has(counters.device)) out.add(metric, { user, device: counters.device }, value);
      else overflow = (overflow ?? 0) + value;
    }
    if (overflow !== undefined) out.add(metric, { user, device: overflowDevice }, overflow);
  }
  for (const kind of ["uid", "gid"] as const) {
    const ids = facts.mappedIds?.[kind];
    if (ids !== undefined) out.add("userNamespaceMappedIds", { user, kind }, ids);
  }
}

export function addProbe(out: SampleSet, user: string, facts: ProbeFacts): void {
  for (const result of [facts.port, facts.network]) {
    // An unsupported path did not run: its series are absent, the reason is in the log and /checks.
    if (!result.supported) continue;
    const labels = { user, path: result.path };
    out.add("probeSuccess", labels, bool(result.ok === true));
    if (result.ok && result.bytesPerSecond !== undefined)
      out.add("probeThroughput", labels, result.bytesPerSecond);
    if (result.ranAt !== undefined) out.add("probeLastRun", labels, result.ranAt / 1000);
  }
  if (facts.port.sourceIpPropagated !== undefined) {
    out.add("probeSourceIp", { user }, bool(facts.port.sourceIpPropagated));
  }
}

export function addDbus(out: SampleSet, user: string, facts: DbusFacts): void {
  out.add("dbusUserBusUp", { user }, bool(facts.busUp));
  if (facts.pingSeconds !== undefined) out.add("dbusUserBusPing", { user }, facts.pingSeconds);
  for (const unit of facts.units ?? []) {
    if (unit.activeState === undefined) continue;
    for (const state of unitStates) {
      out.add(
        "systemdUserUnitState",
        { user, unit: unit.unit, state },
        bool(unit.activeState === state),
      );
    }
  }
}
