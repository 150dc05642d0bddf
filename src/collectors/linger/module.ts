import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { lingerCollector } from "./linger.js";
import type { LingerFacts } from "./linger.js";
import { linger } from "./checks.js";

const metrics = {
  lingerEnabled: gauge(
    "rootless_linger_enabled",
    ["user"],
    "Whether systemd-logind keeps the user's services running after logout.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

function addLinger(out: Out, { name: user }: Target, facts: LingerFacts): void {
  if (facts.enabled !== undefined) out.add("lingerEnabled", { user }, bool(facts.enabled));
}

export const lingerModule = collectorModule({
  name: "linger",
  collector: lingerCollector,
  metrics,
  render: addLinger,
  checks: [linger],
});
