import type { Target } from "../collectors/collector.js";

/*
 * The vocabulary of checks, over any set of facts: a collector module's checks read its own facts
 * (Record<name, Facts>), checks/finding.ts binds it to every collector's.
 */

export type Severity = "critical" | "warning" | "info";
export const severities: readonly Severity[] = ["critical", "warning", "info"];
export type CheckState = "pass" | "fail" | "unknown";
export type Lang = "en" | "zh-CN";
export const langs: readonly Lang[] = ["en", "zh-CN"];

/** A text in English and Simplified Chinese (the seed guide's own language). */
export interface Text {
  readonly en: string;
  readonly "zh-CN": string;
}

export function text(en: string, zh: string): Text {
  return { en, "zh-CN": zh };
}

/** What the checks read: the latest facts of each collector that succeeded. */
export interface CheckInputOf<F> {
  readonly target: Target;
  readonly facts: Partial<F>;
}

export interface Verdict {
  readonly state: CheckState;
  readonly summary: Text;
  /** The fix, adapted to what was found; present when the check fails. */
  readonly remediation?: Text;
  /** The facts the verdict rests on, for /checks and `check --json`. */
  readonly facts: Readonly<Record<string, unknown>>;
}

/** What a host check reads: the host's facts, and a user's when it is judged for one. */
export interface HostCheckInputOf<F> {
  readonly facts: Partial<F>;
  /** Absent when nobody is watched (host mode on a host where no user has rootless Docker). */
  readonly target?: Target;
}

interface CheckBase {
  /** Stable snake_case id: a label value, an alert matcher, a JSON key. */
  readonly id: string;
  readonly severity: Severity;
}

/** The same for every user, and carries no user label. */
export interface HostCheckOf<F> extends CheckBase {
  readonly scope: "host";
  readonly evaluate: (input: HostCheckInputOf<F>) => Verdict;
}

export interface UserCheckOf<F> extends CheckBase {
  readonly scope: "user";
  readonly evaluate: (input: CheckInputOf<F>) => Verdict;
}

/** A check reading the facts F (a module's own, or the several a cross-collector check names). */
export type CheckOf<F> = HostCheckOf<F> | UserCheckOf<F>;

export interface Finding extends Verdict {
  readonly id: string;
  readonly severity: Severity;
  readonly scope: "host" | "user";
}

export function pass(summary: Text, facts: Record<string, unknown> = {}): Verdict {
  return { state: "pass", summary, facts };
}

export function fail(
  summary: Text,
  remediation: Text,
  facts: Record<string, unknown> = {},
): Verdict {
  return { state: "fail", summary, remediation, facts };
}

/** The facts a check needs are missing: say which evidence, in both languages, never guess. */
export function unknown(missing: Text): Verdict {
  return {
    state: "unknown",
    summary: text(
      `Cannot tell: no facts on ${missing.en}.`,
      `无法判断：缺少关于 ${missing["zh-CN"]} 的信息。`,
    ),
    facts: { missing: missing.en },
  };
}

/** A collector's facts are missing altogether: its last run failed, or it is turned off. */
export function noFacts(collector: string): Text {
  return text(
    `what the ${collector} collector reads (it failed or is turned off: see rootless_collector_success)`,
    `${collector} 采集器所读取的内容（它运行失败或已被关闭：参见 rootless_collector_success）`,
  );
}
