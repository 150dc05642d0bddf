import { afterEach, describe, expect, it, vi } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import { Registry } from "prom-client";
import { MetricsRenderer, prometheusContentType } from "../../src/exporter/render/renderer.js";
import { samplesFrom } from "../../src/exporter/render/samples.js";
import type { CollectorState } from "../../src/exporter/schedule/ledger.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import { alice } from "../helpers/healthy-facts.js";
import { waitFor } from "../helpers/expect-soon.js";

function state(errorsTotal: number): CollectorState {
  return {
    name: "linger",
    scope: "user",
    intervalSeconds: 15,
    ok: true,
    error: undefined,
    lastRunAt: 1,
    durationSeconds: 0.001,
    lastSuccessAt: 1,
    errorsTotal,
    runs: 1,
  };
}

const build = { version: "0.0.0", nodejsVersion: "v20" };

function samples(
  states: readonly CollectorState[],
  views: readonly TargetView<FactsByCollector>[],
) {
  return () =>
    samplesFrom({ collectors: states, views, host: {}, userRuns: [], mode: "self", build });
}

const lingering: TargetView<FactsByCollector> = {
  target: alice,
  facts: { linger: { enabled: true, source: "file" } },
  complete: false,
  errors: [],
};

describe("MetricsRenderer", () => {
  it("serves prom-client's content type without loading prom-client for it", () => {
    expect(prometheusContentType).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
  });

  it("never serves a snapshot older than the last collector run, even when runs end mid-rendering", async () => {
    let states = [state(0)];
    const renderer = new MetricsRenderer({
      samples: () => samples(states, [lingering])(),
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
    // Served at once, possibly stale: polled until the last run shows (never stuck on the first).
    let body = "";
    await waitFor(
      "the last run's snapshot",
      async () =>
        (body = (await renderer.render()).toString()).includes(
          'rootless_collector_errors_total{collector="linger"} 2',
        ),
      2000,
      { everyMs: 20, seen: () => body },
    );
    expect(body).toContain('rootless_linger_enabled{user="alice"} 1');
  });

  it("keeps rendering after a scheduled rendering found nothing stale", async () => {
    let states = [state(0)];
    const renderer = new MetricsRenderer({
      samples: () => samples(states, [lingering])(),
      exporterMetrics: false,
    });
    renderer.invalidate(); // schedules a rendering ...
    await renderer.render(); // ... that this first scrape makes unnecessary
    // Past the 50 ms coalescing pause: the scheduled rendering runs and finds nothing stale (not
    // observable from outside, so a fixed wait for the timer, not for a state).
    await new Promise((resolve) => setTimeout(resolve, 150));
    states = [state(7)];
    renderer.invalidate();
    let body = "";
    await waitFor(
      "the new run's snapshot",
      async () =>
        (body = (await renderer.render()).toString()).includes(
          'rootless_collector_errors_total{collector="linger"} 7',
        ),
      2000,
      { everyMs: 20, seen: () => body },
    );
    renderer.stop();
  });

  it("leaves out a collector that has not run yet, and unknown values", async () => {
    const renderer = new MetricsRenderer({
      samples: samples(
        [{ ...state(0), ok: undefined, runs: 0 }],
        [{ target: alice, facts: {}, complete: false, errors: [] }],
      ),
      exporterMetrics: false,
    });
    const body = (await renderer.render()).toString();
    expect(body).not.toContain("rootless_collector_success");
    expect(body).not.toContain("rootless_linger_enabled");
    expect(body).not.toContain("rootless_compliant");
    expect(body).toContain(
      'rootless_target_info{user="alice",uid="1000",runtime_dir="/run/user/1000"} 1',
    );
    expect(body).toContain('rootless_targets_watched{mode="self"} 1');
  });

  it("writes a host series once however many users see it, and each user's own series", async () => {
    const bob = { ...alice, name: "bob", uid: 1001, groups: [5000], runtimeDir: "/run/user/1001" };
    const kernel: FactsByCollector["kernel"] = {
      sysctls: { "user.max_user_namespaces": 63000 },
      pingGroupRange: { low: 0, high: 2000 },
      storageDrivers: {},
      idmapHelpers: {},
      apparmor: { enabled: false, rootlesskitProfiles: [] },
    };
    const view = (target: typeof alice): TargetView<FactsByCollector> => ({
      target,
      facts: { kernel },
      complete: false,
      errors: [],
    });
    const renderer = new MetricsRenderer({
      samples: () =>
        samplesFrom({
          collectors: [],
          views: [view(alice), view(bob)],
          host: { kernel },
          userRuns: [],
          mode: "host",
          build,
        }),
      exporterMetrics: false,
    });
    const body = (await renderer.render()).toString();
    expect(body.match(/^rootless_sysctl_value\{/gm)).toHaveLength(1);
    expect(body).toContain('rootless_ping_allowed{user="alice"} 1');
    expect(body).toContain('rootless_ping_allowed{user="bob"} 0');
    expect(body).toContain('rootless_targets_watched{mode="host"} 2');
  });
});

describe("MetricsRenderer's windows (fake timers)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gathers the runs that end within coalesceMs into one rendering", async () => {
    vi.useFakeTimers();
    let renderings = 0;
    const renderer = new MetricsRenderer({
      samples: () => {
        renderings++;
        return samples([state(renderings)], [lingering])();
      },
      exporterMetrics: false,
      coalesceMs: 300,
    });
    await renderer.render();
    expect(renderings).toBe(1);
    for (let i = 0; i < 5; i++) renderer.invalidate();
    await vi.advanceTimersByTimeAsync(299);
    expect(renderings).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(renderings).toBe(2);
    expect((await renderer.render()).toString()).toContain(
      'rootless_collector_errors_total{collector="linger"} 2',
    );
    await vi.advanceTimersByTimeAsync(5000);
    expect(renderings).toBe(2);
    renderer.stop();
  });

  it("reuses the process metrics for processMetricsMaxAgeMs, then renders them again", async () => {
    vi.useFakeTimers();
    const renderer = new MetricsRenderer({
      samples: samples([state(0)], [lingering]),
      exporterMetrics: true,
      processMetricsMaxAgeMs: 4000,
      coalesceMs: 10,
    });
    const first = await renderer.render();
    await vi.advanceTimersByTimeAsync(3990);
    // Younger than the window: the same bytes, nothing scheduled.
    expect(renderer.render()).toBe(first);
    await vi.advanceTimersByTimeAsync(20);
    // Past it: still served at once, and a new rendering follows after the coalescing pause.
    expect(renderer.render()).toBe(first);
    await vi.advanceTimersByTimeAsync(20);
    const second = renderer.render();
    expect(second).not.toBe(first);
    expect(second.toString()).toContain('rootless_collector_errors_total{collector="linger"} 0');
    renderer.stop();
  });
});

describe("exporter metrics (prom-client's defaults)", () => {
  it("follow the naming rules: _total only on counters, every family typed and described", async () => {
    const renderer = new MetricsRenderer({
      samples: samples([state(0)], [lingering]),
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
