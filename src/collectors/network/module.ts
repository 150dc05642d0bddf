import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, counter, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { networkCollector } from "./network.js";
import type { NetworkFacts } from "./network.js";
import { closedLabel, devicesShown, networkDriverValues, overflowDevice } from "../label-values.js";

const metrics = {
  networkDriverUp: gauge(
    "rootless_network_driver_up",
    ["user", "driver"],
    "Whether the network driver's process is alive.",
  ),
  networkDriverCpu: counter(
    "rootless_network_driver_cpu_seconds_total",
    ["user", "driver"],
    "User and system CPU time of the network driver process.",
  ),
  networkDriverRss: gauge(
    "rootless_network_driver_resident_memory_bytes",
    ["user", "driver"],
    "Resident memory of the network driver process.",
  ),
  networkMtu: gauge(
    "rootless_network_mtu",
    ["user"],
    "MTU of the rootless network (driver's or rootlesskit's --mtu).",
  ),
  networkReceiveBytes: counter(
    "rootless_network_receive_bytes_total",
    ["user", "device"],
    "Bytes received on the interface of rootlesskit's network namespace.",
  ),
  networkTransmitBytes: counter(
    "rootless_network_transmit_bytes_total",
    ["user", "device"],
    "Bytes sent on the interface of rootlesskit's network namespace.",
  ),
  networkReceivePackets: counter(
    "rootless_network_receive_packets_total",
    ["user", "device"],
    "Packets received on the interface of rootlesskit's network namespace.",
  ),
  networkTransmitPackets: counter(
    "rootless_network_transmit_packets_total",
    ["user", "device"],
    "Packets sent on the interface of rootlesskit's network namespace.",
  ),
  networkReceiveDrop: counter(
    "rootless_network_receive_drop_total",
    ["user", "device"],
    "Received packets dropped on the interface.",
  ),
  networkTransmitDrop: counter(
    "rootless_network_transmit_drop_total",
    ["user", "device"],
    "Sent packets dropped on the interface.",
  ),
  networkReceiveErrs: counter(
    "rootless_network_receive_errs_total",
    ["user", "device"],
    "Receive errors on the interface.",
  ),
  networkTransmitErrs: counter(
    "rootless_network_transmit_errs_total",
    ["user", "device"],
    "Transmit errors on the interface.",
  ),
  userNamespaceMappedIds: gauge(
    "rootless_userns_mapped_ids",
    ["user", "kind"],
    "IDs mapped in the running rootlesskit's uid_map (kind uid) or gid_map (kind gid).",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

const interfaceCounters: readonly [
  keyof typeof metrics,
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

export function addNetwork(out: Out, user: string, facts: NetworkFacts): void {
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

export const networkModule = collectorModule({
  name: "network",
  collector: networkCollector,
  metrics,
  render: (out, target: Target, facts) => addNetwork(out, target.name, facts),
  checks: [],
});
