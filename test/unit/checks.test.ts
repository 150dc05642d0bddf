import { describe, expect, it } from "vitest";
import type { Finding } from "../../src/checks/finding.js";
import { checks, evaluateChecks, exitCode } from "../../src/checks/registry.js";
import { metrics } from "../../src/exporter/catalogue.js";
import { addFindings } from "../../src/exporter/render/findings.js";
import { SampleSet } from "../../src/exporter/render/sample-set.js";
import { cases, infoCases } from "../helpers/diagnosis-cases.js";
import { healthyFacts, input } from "../helpers/healthy-facts.js";

const blocking = (findings: Finding[]) =>
  findings.filter((f) => f.state === "fail" && f.severity !== "info").map((f) => f.id);

describe("checks", () => {
  it("a healthy host fails no check at all", () => {
    const findings = evaluateChecks(input(healthyFacts()));
    expect(findings.filter((f) => f.state !== "pass").map((f) => [f.id, f.state])).toEqual([]);
  });

  // ids: the check meant for the case, or several when one fault has more than one consequence.
  it.each(cases)("%s fails %s and no other warning or critical check", (_name, mutate, ids) => {
    const facts = healthyFacts();
    mutate(facts);
    const findings = evaluateChecks(input(facts));
    const expected = ids.split(",");
    expect(
      blocking(findings).concat(
        findings
          .filter((f) => expected.includes(f.id) && f.state === "fail" && f.severity === "info")
          .map((f) => f.id),
      ),
    ).toEqual(expected);
    for (const id of expected) {
      const finding = findings.find((f) => f.id === id);
      expect(finding?.remediation?.en).toBeTruthy();
      expect(finding?.remediation?.["zh-CN"]).toMatch(/[\u4e00-\u9fff]/);
    }
  });

  it.each(infoCases)("%s fails only info checks: %j", (_name, mutate, ids) => {
    const facts = healthyFacts();
    mutate(facts);
    const findings = evaluateChecks(input(facts));
    expect(findings.filter((f) => f.state === "fail").map((f) => f.id)).toEqual(ids);
    expect(exitCode(findings)).toBe(0);
  });

  it("source_ip_propagation follows the probe's measurement when there is one", () => {
    const measured = (peer: string, propagated: boolean, portDriver = "builtin") => {
      const facts = healthyFacts();
      facts.rootlesskit = {
        ...facts.rootlesskit,
        info: {
          ...facts.rootlesskit.info,
          ...(portDriver !== "implicit" && { portDriver: { driver: portDriver, protos: ["tcp"] } }),
        },
      };
      facts.probe = {
        port: {
          path: "port",
          supported: true,
          ok: true,
          peer,
          sourceIpPropagated: propagated,
          bytesPerSecond: 9e8,
        },
        network: { path: "network", supported: true, ok: true, bytesPerSecond: 5e8 },
      };
      return evaluateChecks(input(facts));
    };
    const lost = measured("127.0.0.1", false).find((f) => f.id === "source_ip_propagation");
    expect(lost?.state).toBe("fail");
    expect(lost?.summary.en).toMatch(/^Measured: the port probe's sink saw 127\.0\.0\.1/);
    expect(measured("127.0.0.2", true).find((f) => f.id === "source_ip_propagation")?.state).toBe(
      "pass",
    );
    // pasta shows a loopback client as the namespace's own address, yet passes other hosts' on.
    const pasta = measured("10.0.2.100", false, "implicit");
    expect(pasta.find((f) => f.id === "source_ip_propagation")?.state).toBe("pass");
    const driver = measured("127.0.0.2", true).find((f) => f.id === "network_driver");
    expect(driver?.summary.en).toMatch(/Measured: 500 MB\/s\.$/);
  });

  it("missing facts make a check unknown, never pass or fail", () => {
    const findings = evaluateChecks({ target: input(healthyFacts()).target, facts: {} });
    expect(findings.every((f) => f.state === "unknown")).toBe(true);
    expect(findings.every((f) => f.summary.en.startsWith("Cannot tell"))).toBe(true);
  });

  it.each([
    [[], 0],
    [[["info", "fail"]], 0],
    [[["warning", "fail"]], 1],
    [
      [
        ["critical", "fail"],
        ["warning", "fail"],
      ],
      2,
    ],
    [[["critical", "unknown"]], 3],
    [
      [
        ["warning", "fail"],
        ["critical", "unknown"],
      ],
      1,
    ],
    [[["info", "unknown"]], 0],
  ] as const)("exit code of %j is %d", (rows, code) => {
    const findings = rows.map(
      ([severity, state], i) =>
        ({
          id: `c${i}`,
          severity,
          state,
          scope: "user",
          summary: { en: "", "zh-CN": "" },
          facts: {},
        }) as Finding,
    );
    expect(exitCode(findings)).toBe(code);
  });

  it("ids are stable snake_case, unique, in alphabetical order", () => {
    const ids = checks.map((c) => c.id);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9_]*$/);
  });

  it("every check becomes one rootless_check_ok series with its id, severity and scope's labels", () => {
    const findings = evaluateChecks(input(healthyFacts()));
    const out = new SampleSet();
    addFindings(out, "alice", findings);
    const series = out.series.get("checkOk") ?? [];
    expect(series.map((s) => s.labels["check"])).toEqual(checks.map((c) => c.id));
    for (const check of checks) {
      const { labels, value } = series.find((s) => s.labels["check"] === check.id) ?? {};
      const expected = { check: check.id, severity: check.severity };
      expect(labels).toEqual(check.scope === "user" ? { user: "alice", ...expected } : expected);
      expect(Object.keys(labels ?? {}).every((l) => metrics.checkOk.labels.includes(l))).toBe(true);
      expect(value).toBe(1);
    }
  });

  // The matrix above is the proof that a diagnosis is right: a check without a row is unproven.
  it("every warning and critical check has a row in the diagnosis matrix", () => {
    const covered = new Set(cases.flatMap(([, , ids]) => ids.split(",")));
    const blockingIds = checks.filter((c) => c.severity !== "info").map((c) => c.id);
    expect(blockingIds.filter((id) => !covered.has(id))).toEqual([]);
  });

  it("every info check has a row among the info-only cases", () => {
    const covered = new Set(infoCases.flatMap(([, , ids]) => ids));
    const infoIds = checks.filter((c) => c.severity === "info").map((c) => c.id);
    expect(infoIds.filter((id) => !covered.has(id))).toEqual([]);
  });
});
