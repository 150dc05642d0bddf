import type { MetricDef, Sink } from "../module.js";
import { collectorModule, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { subidCollector } from "./subid.js";
import type { SubidFacts } from "./subid.js";
import { subgidRange, subidOverlap, subuidRange } from "./checks.js";
import { subidParentMap } from "./parent-check.js";

const metrics = {
  subidRangeSize: gauge(
    "rootless_subid_range_size",
    ["user", "kind"],
    "Subordinate IDs allotted to the user by libsubid's source (rootless_subid_source_info).",
  ),
  subidSourceInfo: gauge(
    "rootless_subid_source_info",
    ["user", "kind", "source"],
    "Where libsubid takes the user's subordinate IDs: files, or the nsswitch.conf subid module; value 1.",
  ),
  subidOutsideParentMap: gauge(
    "rootless_subid_range_outside_parent_map",
    ["user", "kind"],
    "The user's subordinate IDs that the exporter's own user namespace (/proc/self/uid_map) does not map.",
  ),
  subidRanges: gauge(
    "rootless_subid_ranges",
    ["user", "kind"],
    "Number of subordinate ID ranges of the user.",
  ),
  subidOverlaps: gauge(
    "rootless_subid_overlaps",
    ["user", "kind"],
    "The user's ranges that overlap a range of another user (files only).",
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
    const answer = facts.answer[kind];
    if (answer.source !== undefined)
      out.add("subidSourceInfo", { user, kind, source: answer.source }, 1);
    if (answer.size !== undefined) out.add("subidRangeSize", { user, kind }, answer.size);
    if (answer.ranges !== undefined) out.add("subidRanges", { user, kind }, answer.ranges);
    if (answer.outsideParent !== undefined) {
      out.add("subidOutsideParentMap", { user, kind }, answer.outsideParent);
    }
    if (answer.source === "files" && file.summary) {
      out.add("subidOverlaps", { user, kind }, file.summary.overlaps);
    }
  }
}

export const subidModule = collectorModule({
  name: "subid",
  collector: subidCollector,
  metrics,
  render: addSubid,
  checks: [subgidRange, subidOverlap, subidParentMap, subuidRange],
});
