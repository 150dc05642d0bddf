import type { Finding, Lang } from "../checks/finding.js";
import { severities } from "../checks/finding.js";
import { evaluateChecks } from "../checks/registry.js";
import type { FactsByCollector } from "../collectors/registry.js";
import type { Target } from "../host/target.js";
import { bool } from "./sample-set.js";
import type { SampleSet } from "./sample-set.js";
import type { CollectorState } from "./scheduler.js";

/** The checks on the latest successful facts of every collector. */
export function findingsFrom(states: readonly CollectorState[], target: Target): Finding[] {
  const facts: Partial<Record<string, unknown>> = {};
  for (const state of states) if (state.ok) facts[state.name] = state.facts;
  return evaluateChecks({ target, facts: facts as Partial<FactsByCollector> });
}

/** The JSON of /checks and `check --json`, in one language. */
export function findingsJson(findings: readonly Finding[], lang: Lang, user: string, at: Date) {
  return {
    generated_at: at.toISOString(),
    targets: [
      {
        user,
        checks: findings.map((f) => ({
          id: f.id,
          severity: f.severity,
          scope: f.scope,
          state: f.state,
          summary: f.summary[lang],
          ...(f.remediation && { remediation: f.remediation[lang] }),
          facts: f.facts,
        })),
      },
    ],
  };
}

export function addFindings(out: SampleSet, user: string, findings: readonly Finding[]): void {
  for (const finding of findings) {
    if (finding.state === "unknown") continue;
    const check = { check: finding.id, severity: finding.severity };
    const labels: Record<string, string> = finding.scope === "user" ? { user, ...check } : check;
    out.add("checkOk", labels, bool(finding.state === "pass"));
  }
  for (const severity of severities) {
    const failed = findings.filter((f) => f.severity === severity && f.state === "fail").length;
    out.add("checksFailed", { user, severity }, failed);
  }
  const blocking = findings.some((f) => f.state === "fail" && f.severity !== "info");
  out.add("compliant", { user }, bool(!blocking));
}
