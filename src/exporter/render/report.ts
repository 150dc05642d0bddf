import type { Finding, Lang, Severity } from "../../checks/finding.js";
import { severities } from "../../checks/finding.js";
import { escapeInvisible } from "../../checks/quoted.js";

const colours: Record<Severity | "pass" | "unknown" | "reset" | "bold", string> = {
  critical: "\x1b[31m",
  warning: "\x1b[33m",
  info: "\x1b[36m",
  pass: "\x1b[32m",
  unknown: "\x1b[35m",
  reset: "\x1b[0m",
  bold: "\x1b[1m",
};

const words: Record<Lang, Record<string, string>> = {
  en: {
    fix: "fix",
    failing: "failing",
    passing: "passing",
    unknown: "unknown",
    user: "user",
    host: "host checks only",
    collector: "collector failed",
  },
  "zh-CN": {
    fix: "修复",
    failing: "未通过",
    passing: "通过",
    unknown: "未知",
    user: "用户",
    host: "仅主机检查",
    collector: "采集器失败",
  },
};

function indent(text: string, prefix: string): string {
  return text
    .split("\n")
    .map((line, i) => (i === 0 ? line : `${prefix}${line}`))
    .join("\n");
}

/*
 * The checks quote what users said where they word it (checks/quoted.ts); this is the second
 * wall, for the admin's terminal: no control, escape, bidi or separator character of any text
 * gets through, and the only line breaks are the report's own and those of a fix's own text.
 */
const clean = escapeInvisible;
const cleanLines = (text: string): string => text.split("\n").map(escapeInvisible).join("\n");

/** The human `check` report: failing checks by severity with their fix, then the rest in brief. */
export function renderReport(options: {
  readonly findings: readonly Finding[];
  /** Undefined for the host checks alone, when nobody is watched. */
  readonly user: string | undefined;
  readonly uid: number | undefined;
  readonly lang: Lang;
  readonly colour: boolean;
  readonly collectorErrors: readonly string[];
}): string {
  const { findings, lang } = options;
  const c = (name: keyof typeof colours, text: string) =>
    options.colour ? `${colours[name]}${text}${colours.reset}` : text;
  const w = words[lang];
  const title =
    options.user === undefined
      ? `rootless-exporter check: ${w["host"]}`
      : `rootless-exporter check: ${w["user"]} ${clean(options.user)} (uid ${options.uid})`;
  const lines = [c("bold", title), ""];
  for (const severity of severities) {
    for (const f of findings.filter((x) => x.severity === severity && x.state === "fail")) {
      lines.push(
        `${c(severity, severity.toUpperCase().padEnd(8))} ${f.id}: ${clean(f.summary[lang])}`,
      );
      if (f.remediation)
        lines.push(
          `         ${w["fix"]}: ${indent(cleanLines(f.remediation[lang]), "              ")}`,
        );
    }
  }
  const unknown = findings.filter((f) => f.state === "unknown");
  if (unknown.length > 0) lines.push("");
  for (const f of unknown)
    lines.push(`${c("unknown", "UNKNOWN ")} ${f.id} (${f.severity}): ${clean(f.summary[lang])}`);
  for (const error of options.collectorErrors)
    lines.push(`${c("unknown", "ERROR   ")} ${w["collector"]}: ${clean(error)}`);
  const passing = findings.filter((f) => f.state === "pass");
  lines.push("", `${c("pass", "PASS    ")} ${passing.map((f) => f.id).join(", ")}`);
  const count = (s: Severity) =>
    findings.filter((f) => f.severity === s && f.state === "fail").length;
  lines.push(
    "",
    `${w["failing"]}: ${severities.map((s) => `${count(s)} ${s}`).join(", ")}; ${w["passing"]}: ${passing.length}; ${w["unknown"]}: ${unknown.length}`,
  );
  return `${lines.join("\n")}\n`;
}
