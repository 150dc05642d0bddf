import { describe, expect, it } from "vitest";
import { MetricsRenderer } from "../../src/exporter/metrics.js";
import type { CollectorState } from "../../src/exporter/scheduler.js";
import { alice } from "../helpers/healthy-facts.js";

function state(errorsTotal: number): CollectorState {
  return {
    name: "linger",
    intervalSeconds: 15,
    facts: { enabled: true, source: "file" },
    ok: true,
    error: undefined,
    lastRunAt: 1,
    durationSeconds: 0.001,
    lastSuccessAt: 1,
    errorsTotal,
    runs: 1,
  };
}

describe("MetricsRenderer", () => {
  it("never serves a snapshot older than the last collector run, even when runs end mid-rendering", async () => {
    let states = [state(0)];
    const renderer = new MetricsRenderer({
      states: () => states,
      target: alice,
      build: { version: "0.0.0", nodejsVersion: "v20" },
      exporterMetrics: false,
    });
    expect((await renderer.render()).toString()).toContain(
      'rootless_collector_errors_total{collector="linger"} 0',
    );
    // Two runs finish while the first re-rendering is still awaiting prom-client.
    states = [state(1)];
    renderer.invalidate();
    states = [state(2)];
    renderer.invalidate();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const body = (await renderer.render()).toString();
    expect(body).toContain('rootless_collector_errors_total{collector="linger"} 2');
    expect(body).toContain('rootless_linger_enabled{user="alice"} 1');
  });

  it("leaves out a collector that has not run yet, and unknown values", async () => {
    const renderer = new MetricsRenderer({
      states: () => [{ ...state(0), ok: undefined, facts: undefined, runs: 0 }],
      target: alice,
      build: { version: "0.0.0", nodejsVersion: "v20" },
      exporterMetrics: false,
    });
    const body = (await renderer.render()).toString();
    expect(body).not.toContain("rootless_collector_success");
    expect(body).not.toContain("rootless_linger_enabled");
    expect(body).not.toContain("rootless_compliant");
    expect(body).toContain(
      'rootless_target_info{user="alice",uid="1000",runtime_dir="/run/user/1000"} 1',
    );
  });
});

describe("exporter metrics (prom-client's defaults)", () => {
  it("follow the naming rules: _total only on counters, every family typed and described", async () => {
    const renderer = new MetricsRenderer({
      states: () => [state(0)],
      target: alice,
      build: { version: "0.0.0", nodejsVersion: "v20" },
      exporterMetrics: true,
    });
    const body = (await renderer.render()).toString();
    const types = [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(
      (m) => [m[1] ?? "", m[2] ?? ""] as const,
    );
    const helps = new Set([...body.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]));
    expect(types.some(([name]) => name.startsWith("nodejs_"))).toBe(true);
    expect(types.some(([name]) => name.startsWith("process_"))).toBe(true);
    for (const [name, type] of types) {
      expect(name.endsWith("_total"), `${name} is a ${type}`).toBe(type === "counter");
      expect(helps.has(name), `${name} has HELP`).toBe(true);
    }
    expect(body).toMatch(/^nodejs_active_handles\{type="\w+"\} \d+$/m);
  });
});
