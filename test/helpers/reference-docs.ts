import { format } from "prettier";
import type { Check, Text, Verdict } from "../../src/checks/finding.js";
import { checks } from "../../src/checks/registry.js";
import { collectorList } from "../../src/collectors/registry.js";
import { metrics } from "../../src/exporter/catalogue.js";
import { cases, infoCases } from "./diagnosis-cases.js";
import type { Mutation } from "./diagnosis-cases.js";
import { alice, healthyFacts, input } from "./healthy-facts.js";

/** docs/metrics.md and docs/checks.md, rendered from the catalogue, the collectors and the checks. */

const regenerate = "npm run docs";
const banner = `<!-- Generated from the code by \`${regenerate}\` (test/helpers/reference-docs.ts): do not edit. -->`;

// A table cell: no line break, no unescaped pipe.
function cell(value: string): string {
  return value.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

function code(value: string): string {
  return `\`${value}\``;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function metricsDoc(): string {
  const collectorRows = collectorList.map((c) => [
    code(c.name),
    c.scope,
    c.defaultEnabled ? "on" : "off",
    `${c.defaultIntervalSeconds}s`,
    c.description,
    (c.options ?? [])
      .map((o) => `${code(`--${o.flag ?? `collector.${c.name}.${o.name}`}`)} (${o.defaultValue})`)
      .join(", "),
  ]);
  const metricRows = Object.values(metrics).map((m) => [
    code(m.name),
    m.type,
    m.labels.join(", "),
    m.help,
  ]);
  return [
    banner,
    "",
    "# Metrics",
    "",
    "Every metric the exporter can serve, from `src/exporter/catalogue.ts`. Names, types and labels",
    "are the public API. Per-user series carry `user`; host-scope series carry none. A value that",
    "cannot be known is left out, never reported as 0; a collector's series for a user are absent",
    "until its first run for that user finishes, and while that run failed. What each value means in",
    "depth, and how each collector finds its facts: [collectors.md](collectors.md).",
    "",
    "## Collectors",
    "",
    "`--collector.NAME` / `--no-collector.NAME` turn one on or off; `--collector.NAME.interval`",
    "sets its interval.",
    "",
    table(["collector", "scope", "default", "interval", "what", "options"], collectorRows),
    "",
    "## Metric families",
    "",
    table(["metric", "type", "labels", "help"], metricRows),
    "",
    "`process_*` and `nodejs_*` are prom-client's defaults (off with",
    "`--web.disable-exporter-metrics`), less the three it names like counters",
    "(`nodejs_active_{handles,requests,resources}_total`).",
    "",
  ].join("\n");
}

interface Example {
  readonly when: string;
  readonly verdict: Verdict;
}

function examples(check: Check): Example[] {
  const evaluate = (mutate?: Mutation) => {
    const facts = healthyFacts();
    mutate?.(facts);
    return check.evaluate(input(facts));
  };
  const failing = [
    ...cases.filter(([, , ids]) => ids.split(",").includes(check.id)),
    ...infoCases.filter(([, , ids]) => ids.includes(check.id)),
  ].map(([name, mutate]) => ({ when: name, verdict: evaluate(mutate) }));
  return [
    { when: "a healthy host (test/helpers/healthy-facts.ts)", verdict: evaluate() },
    ...failing.filter((e) => e.verdict.state === "fail"),
    {
      when: "no facts (its collector failed or is off)",
      verdict: check.evaluate({ target: alice, facts: {} }),
    },
  ];
}

// Outside code spans, `<` would open an HTML tag (the guide's `lchown <FILE>`).
function prose(value: string): string {
  return value
    .split("`")
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, "&lt;") : part))
    .join("`");
}

// A text with line breaks of its own (a profile to write) goes in a block, as the report prints it.
function entry(label: string, value: string): string[] {
  if (!value.includes("\n")) return [`  - ${label}: ${prose(value)}`];
  return [
    `  - ${label}:`,
    "",
    "    ```text",
    ...value.split("\n").map((l) => `    ${l}`),
    "    ```",
    "",
  ];
}

function texts(label: string, value: Text | undefined): string[] {
  if (!value) return [];
  return [...entry(label, value.en), ...entry(`${label} (zh-CN)`, value["zh-CN"])];
}

export function checksDoc(): string {
  const summary = table(
    ["id", "severity", "scope"],
    checks.map((c) => [`[${code(c.id)}](#${c.id})`, c.severity, c.scope]),
  );
  const sections = checks.flatMap((c) => [
    `## ${c.id}`,
    "",
    `Severity ${c.severity}, scope ${c.scope}.`,
    "",
    ...examples(c).flatMap(({ when, verdict }) => [
      `- **${verdict.state}** on ${when}`,
      ...texts("summary", verdict.summary),
      ...texts("fix", verdict.remediation),
    ]),
    "",
  ]);
  return [
    banner,
    "",
    "# Checks",
    "",
    "Every check of `src/checks/registry.ts`, with what it says, evaluated on the facts of the",
    "diagnosis matrix (`test/helpers/diagnosis-cases.ts`: a healthy host with one fault of the",
    "guide each) for the user alice (uid 1000). A check is `pass`, `fail` or `unknown` (the facts",
    "it needs are missing, and it says which); a fail carries the fix. Host checks carry no `user`",
    "label. How each decides, and the guide line by line: [diagnosis.md](diagnosis.md).",
    "",
    summary,
    "",
    ...sections,
  ].join("\n");
}

/** The two files as committed: rendered, then formatted as `npm run format` would. */
export async function referenceDocs(): Promise<Record<string, string>> {
  const pretty = (text: string) => format(text, { parser: "markdown", printWidth: 100 });
  return {
    "docs/metrics.md": await pretty(metricsDoc()),
    "docs/checks.md": await pretty(checksDoc()),
  };
}

export const regenerateCommand = regenerate;
