import type { MetricDef, Sink } from "../module.js";
import { collectorModule, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { subidCollector } from "./subid.js";
import type { SubidFacts } from "./subid.js";
import { subgidRange, subidOverlap, subuidRange } from "./checks.js";

const metrics = {
  subidRangeSize: gauge(
    "rootless_subid_range_size",
    ["user", "kind"],
    "Subordinate IDs allotted to the user in /etc/subuid (kind uid) or /etc/subgid (kind gid).",
  ),
  subidRanges: gauge(
    "rootless_subid_ranges",
    ["user", "kind"],
    "Number of subordinate ID ranges of the user.",
  ),
  subidOverlaps: gauge(
    "rootless_subid_overlaps",
    ["user", "kind"],
    "The user's ranges that overlap a range of another user.",
  ),
  subidParseErrors: gauge(
    "rootless_subid_parse_errors",
    ["file"],
    "Malformed lines in the subordinate ID file.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

function addSubid(out: Out, { name: user }: Target, facts: SubidFacts): void {
  for (const kind of ["uid", "gid"] as const) {
    const file = facts[kind];
    if (file.state === "ok" || file.state === "missing") {
      out.add("subidParseErrors", { file: file.path }, file.parseErrors);
    }
    if (!file.summary) continue;
    out.add("subidRangeSize", { user, kind }, file.summary.size);
    out.add("subidRanges", { user, kind }, file.summary.ranges);
    out.add("subidOverlaps", { user, kind }, file.summary.overlaps);
  }
}

export const subidModule = collectorModule({
  name: "subid",
  collector: subidCollector,
  metrics,
  render: addSubid,
  checks: [subgidRange, subidOverlap, subuidRange],
});
