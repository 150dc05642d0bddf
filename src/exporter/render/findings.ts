import type { Finding, Lang } from "../../checks/finding.js";
import { severities } from "../../checks/finding.js";
import { escapeInvisible } from "../../checks/quoted.js";
import { evaluateChecks } from "../../checks/registry.js";
import type { FactsByCollector } from "../../collectors/registry.js";
import { bool } from "./sample-set.js";
import type { SeriesSink } from "./sample-set.js";
import type { TargetView } from "../schedule/views.js";

/** The checks on the latest successful facts of every collector about one user and the host. */
export function findingsFor(view: TargetView<FactsByCollector>): Finding[] {
  return evaluateChecks({ target: view.target, facts: view.facts });
}

/** One user's findings, as /checks, `check` and the landing page list them. */
export interface UserFindings {
  readonly user: string;
  readonly uid: number;
  readonly findings: readonly Finding[];
  /** "collector: error" of the collectors that failed for this user. */
  readonly errors: readonly string[];
}

const stateOrder = { fail: 0, unknown: 1, pass: 2 } as const;

/**
 * Two names in the order of their UTF-16 code units: the same on every host and in every locale,
 * and without ICU's collation, whose data and code a first `localeCompare` makes resident for the
 * process's life (~2-3 MiB of file pages; docs/performance.md, "The 1,000-user peak").
 */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Worst first: a failing critical check, then failing warnings, ..., then the user name, in the
 * order of its code units (`byCodeUnits`: "Bob" before "alice", "a1" before "a_b").
 */
export function worstFirst(list: readonly UserFindings[]): UserFindings[] {
  const rank = (u: UserFindings): number => {
    const failing = u.findings.filter((f) => f.state === "fail");
    if (failing.some((f) => f.severity === "critical")) return 0;
    if (failing.some((f) => f.severity === "warning")) return 1;
    if (u.findings.some((f) => f.state === "unknown" && f.severity !== "info")) return 2;
    if (failing.length > 0) return 3;
    return 4;
  };
  return [...list].sort((a, b) => rank(a) - rank(b) || byCodeUnits(a.user, b.user));
}

/** A user's findings sorted for reading: failing first, then unknown, by severity. */
export function sortedFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      stateOrder[a.state] - stateOrder[b.state] ||
      severities.indexOf(a.severity) - severities.indexOf(b.severity),
  );
}

/** The JSON of /checks and `check --json`, in one language: every user, worst first. */
export function findingsJson(
  users: readonly UserFindings[],
  lang: Lang,
  at: Date,
  /** The host checks alone, listed under "host" when nobody is watched. */
  hostFindings?: readonly Finding[],
) {
  const checksOf = (findings: readonly Finding[]) =>
    findings.map((f) => ({
      id: f.id,
      severity: f.severity,
      scope: f.scope,
      state: f.state,
      summary: f.summary[lang],
      ...(f.remediation && { remediation: f.remediation[lang] }),
      facts: f.facts,
    }));
  return {
    generated_at: at.toISOString(),
    targets: worstFirst(users).map(({ user, uid, findings, errors }) => ({
      user,
      uid,
      ...(errors.length > 0 && { collector_errors: errors }),
      checks: checksOf(findings),
    })),
    ...(users.length === 0 && hostFindings && { host: { checks: checksOf(hostFindings) } }),
  };
}

/**
 * findingsJson as text: JSON.stringify leaves DEL, C1, bidi controls and U+2028/U+2029 raw in
 * strings (facts quote users' values), so they are written as \uXXXX; the parsed value is the same.
 * Only the indentation's own newlines stay raw: inside strings JSON has escaped them already.
 */
export function checksJsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2).split("\n").map(escapeInvisible).join("\n")}\n`;
}

/** rootless_check_ok of the host checks, when there is no user to carry them. */
export function addHostFindings(out: SeriesSink, findings: readonly Finding[]): void {
  for (const finding of findings) {
    if (finding.state === "unknown" || finding.scope !== "host") continue;
    out.add(
      "checkOk",
      { check: finding.id, severity: finding.severity },
      bool(finding.state === "pass"),
    );
  }
}

export function addFindings(out: SeriesSink, user: string, findings: readonly Finding[]): void {
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
