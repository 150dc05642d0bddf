import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { metrics } from "../src/exporter/catalogue.js";
import { projectRoot } from "./helpers/daemon.js";
import { requireOnCi, withReason } from "./helpers/prerequisites.js";

// Alert rules, their unit tests, runbooks, and every PromQL expression of the dashboard and the
// Grafana alerts, checked with promtool and against the metric catalogue (the source of truth).
const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));
const read = (path: string) => readFileSync(join(projectRoot, path), "utf8");
const rules = read("deploy/prometheus/rules.yml");
const ruleTests = read("deploy/prometheus/rules.test.yml");
const grafanaAlerts = read("deploy/grafana/provisioning/alerting/rootless.yml");
const dashboard = JSON.parse(read("deploy/grafana/dashboard.json")) as {
  panels: { targets?: { expr: string }[] }[];
};

const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1] ?? "");
const records = [...rules.matchAll(/- record: ([\w:]+)/g)].map((m) => m[1] ?? "");
const exprOf = (yaml: string) => [...yaml.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1] ?? "");
const expressions = [
  ...exprOf(rules),
  ...exprOf(grafanaAlerts),
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
];

// Needs nothing but the files: runs everywhere.
describe("deploy/: runbooks and metric names", () => {
  it("every alert has a firing and a non-firing test case, and a runbook section", () => {
    const runbooks = read("docs/runbooks.md");
    expect(alerts.length).toBeGreaterThanOrEqual(12);
    for (const alert of alerts) {
      const cases = [
        ...ruleTests.matchAll(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:(.*)`, "g")),
      ].map((m) => (m[1] ?? "").trim());
      expect(cases, alert).toContain("[]");
      expect(
        cases.some((c) => c === ""),
        `${alert} has no firing case`,
      ).toBe(true);
      expect(runbooks).toContain(`## ${alert}\n`);
      expect(rules).toContain(
        `runbook_url: https://github.com/rootless-exporter/rootless-exporter/blob/main/docs/runbooks.md#${alert.toLowerCase()}\n`,
      );
    }
  });

  it("names only metrics the exporter exports, or the recording rules", () => {
    const known = new Set<string>([...Object.values(metrics).map((m) => m.name), ...records, "up"]);
    const used = new Set(
      expressions.flatMap((e) => [...e.matchAll(/\b(rootless[_:][\w:]+)/g)].map((m) => m[1] ?? "")),
    );
    expect([...used].filter((name) => !known.has(name))).toEqual([]);
    expect(used.size).toBeGreaterThan(10);
  });
});

const promtoolMissing = promtool ? undefined : "no promtool (apt-get install -y prometheus)";

describe.skipIf(requireOnCi(promtoolMissing))(
  withReason("deploy/: promtool on the rules, their tests and every expression", promtoolMissing),
  () => {
    it("promtool check rules and promtool test rules pass", () => {
      execFileSync(promtool ?? "", [
        "check",
        "rules",
        join(projectRoot, "deploy/prometheus/rules.yml"),
      ]);
      const out = execFileSync(
        promtool ?? "",
        ["test", "rules", join(projectRoot, "deploy/prometheus/rules.test.yml")],
        { encoding: "utf8" },
      );
      expect(out).toContain("SUCCESS");
    });

    /** promtool check rules on the expressions as recording rules: its exit status and output. */
    function checkExpressions(exprs: readonly string[]): { status: number | null; output: string } {
      const dir = mkdtempSync(join(tmpdir(), "promql-"));
      try {
        const file = join(dir, "all.yml");
        const body = exprs
          .map(
            (expr, i) =>
              `      - record: check:expr_${i}\n        expr: ${JSON.stringify(expr.replaceAll("$instance", ".*").replaceAll("$user", ".*"))}`,
          )
          .join("\n");
        writeFileSync(file, `groups:\n  - name: all\n    rules:\n${body}\n`);
        const run = spawnSync(promtool as string, ["check", "rules", file], { encoding: "utf8" });
        return { status: run.status, output: `${run.stdout}${run.stderr}` };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    it("every PromQL expression of rules, dashboard and Grafana alerts parses", () => {
      expect(expressions.length).toBeGreaterThan(20);
      const { status, output } = checkExpressions(expressions);
      expect(output).toContain(`SUCCESS: ${expressions.length} rules found`);
      expect(status).toBe(0);
      // The same harness rejects an expression that does not parse.
      const broken = checkExpressions([...expressions, "sum(rootless_compliant"]);
      expect(broken.status).not.toBe(0);
    });
  },
);
