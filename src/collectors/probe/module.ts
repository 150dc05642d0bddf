import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { probeCollector } from "./probe.js";
import type { ProbeFacts } from "./facts.js";

const metrics = {
  probeSuccess: gauge(
    "rootless_probe_success",
    ["user", "path"],
    "Whether the last throughput probe of the path (port, network) finished.",
  ),
  probeThroughput: gauge(
    "rootless_probe_throughput_bytes_per_second",
    ["user", "path"],
    "Throughput measured by the last probe of the path.",
  ),
  probeSourceIp: gauge(
    "rootless_probe_source_ip_propagated",
    ["user"],
    "Whether the port probe's sink saw the client's own address.",
  ),
  probeLastRun: gauge(
    "rootless_probe_last_run_timestamp_seconds",
    ["user", "path"],
    "When the path was last probed, Unix time.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

export function addProbe(out: Out, user: string, facts: ProbeFacts): void {
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

export const probeModule = collectorModule({
  name: "probe",
  collector: probeCollector,
  metrics,
  render: (out, target: Target, facts) => addProbe(out, target.name, facts),
  checks: [],
});
