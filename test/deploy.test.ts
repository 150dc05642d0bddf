import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
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
const globalRules = read("deploy/prometheus/global-rules.yml");
const ruleTests = read("deploy/prometheus/rules.test.yml");
const grafanaAlerts = read("deploy/grafana/provisioning/alerting/rootless.yml");
const dashboard = JSON.parse(read("deploy/grafana/dashboard.json")) as {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; query: string }[] };
};

const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1] ?? "");
const records = [...`${rules}${globalRules}`.matchAll(/- record: ([\w:]+)/g)].map(
  (m) => m[1] ?? "",
);
const exprOf = (yaml: string) => [...yaml.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1] ?? "");
const panelExpressions = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const expressions = [
  ...exprOf(rules),
  ...exprOf(globalRules),
  ...exprOf(grafanaAlerts),
  ...panelExpressions,
  ...dashboard.templating.list
    .map((v) => /^label_values\((.+), \w+\)$/.exec(v.query)?.[1])
    .filter((q): q is string => q !== undefined),
];

const noPromtool = promtool ? undefined : "no promtool (`apt-get install -y prometheus`)";

describe.skipIf(requireOnCi(noPromtool))(
  withReason("deploy/: rules, tests, runbooks, dashboard", noPromtool),
  () => {
    it("promtool check rules and promtool test rules pass", () => {
      const files = ["rules", "global-rules"].map((f) =>
        join(projectRoot, `deploy/prometheus/${f}`),
      );
      execFileSync(promtool ?? "", ["check", "rules", ...files.map((f) => `${f}.yml`)]);
      const out = execFileSync(
        promtool ?? "",
        ["test", "rules", ...files.map((f) => `${f}.test.yml`)],
        {
          encoding: "utf8",
        },
      );
      expect(out.match(/SUCCESS/g)).toHaveLength(2);
    });

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

    /** promtool check rules on the expressions as recording rules: its exit status and output. */
    function checkExpressions(exprs: readonly string[]): { status: number | null; output: string } {
      const dir = mkdtempSync(join(tmpdir(), "promql-"));
      try {
        const file = join(dir, "all.yml");
        const body = exprs
          .map(
            (expr, i) =>
              `      - record: check:expr_${i}\n        expr: ${JSON.stringify(expr.replace(/\$\w+/g, ".*"))}`,
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

    it("names only metrics the exporter exports, or the recording rules", () => {
      const known = new Set<string>([
        ...Object.values(metrics).map((m) => m.name),
        ...records,
        "up",
      ]);
      const used = new Set(
        expressions.flatMap((e) =>
          [...e.matchAll(/\b(rootless[_:][\w:]+)/g)].map((m) => m[1] ?? ""),
        ),
      );
      expect([...used].filter((name) => !known.has(name))).toEqual([]);
      expect(used.size).toBeGreaterThan(10);
    });

    it("the dashboard's variables all resolve, and its fleet row reads only the recording rules", () => {
      const defined = new Set(dashboard.templating.list.map((v) => v.name));
      const used = new Set(
        [...panelExpressions, ...dashboard.templating.list.map((v) => v.query)].flatMap((e) =>
          [...e.matchAll(/\$(\w+)/g)].map((m) => m[1] ?? ""),
        ),
      );
      expect([...used].filter((name) => !defined.has(name))).toEqual([]);
      expect(used).toContain("site");
      const hostRow = dashboard.panels.findIndex((p) => p.type === "row" && p.title === "Host");
      const fleet = dashboard.panels
        .slice(0, hostRow)
        .filter((p) => p.title !== "Failing checks by host and user")
        .flatMap((p) => (p.targets ?? []).map((t) => t.expr));
      expect(fleet.length).toBeGreaterThanOrEqual(6);
      for (const expr of fleet) {
        const names = [...expr.matchAll(/\b(rootless[_:][\w:]+|up)\b(?=\{|\s|\)|$)/g)].map(
          (m) => m[1],
        );
        expect(names.length, expr).toBeGreaterThan(0);
        for (const name of names) expect(records, `${expr}: ${name}`).toContain(name);
        // A ratio is divided from sums and counts here, never averaged from stored ratios.
        expect(expr).not.toMatch(/:ratio/);
      }
    });
  },
);

describe("deploy/mixin: the rendered files", () => {
  const check = (cwd: string) =>
    spawnSync(process.execPath, ["scripts/mixin.mjs", "--check"], { cwd, encoding: "utf8" });

  it("are what scripts/mixin.mjs renders from deploy/mixin/config.mjs", () => {
    const run = check(projectRoot);
    expect(`${run.stdout}${run.stderr}`).toContain("every rendered file is current");
    expect(run.status).toBe(0);
  });

  it("--check fails, naming the file, when a rendered file or the config changed", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixin-"));
    try {
      for (const path of ["deploy", "scripts/mixin.mjs", "package.json"])
        cpSync(join(projectRoot, path), join(dir, path), { recursive: true });
      symlinkSync(join(projectRoot, "node_modules"), join(dir, "node_modules"));
      expect(check(dir).status).toBe(0);
      const config = join(dir, "deploy/mixin/config.mjs");
      writeFileSync(
        config,
        readFileSync(config, "utf8").replace('job="rootless-exporter"', 'job="rx"'),
      );
      const run = check(dir);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain("deploy/prometheus/rules.yml");
      expect(run.stderr).toContain("deploy/grafana/dashboard.json");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
