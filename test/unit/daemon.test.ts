import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { parseCommandLine } from "../../src/cli.js";
import type { Collector } from "../../src/collectors/collector.js";
import { collectors } from "../../src/collectors/registry.js";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import type { CollectorSet } from "../../src/exporter/schedule/scheduler.js";
import { ExporterService } from "../../src/exporter/service.js";
import type { ExporterServiceOptions } from "../../src/exporter/service.js";
import type { TriggerFactory } from "../../src/exporter/schedule/trigger.js";
import { materializeFixture } from "../helpers/fixtures.js";
import { waitFor } from "../helpers/expect-soon.js";

const never: TriggerFactory = () => ({ stop: () => undefined });
const hung: Collector<unknown> = {
  name: "hung",
  scope: "user",
  description: "never answers",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  collect: () => new Promise(() => undefined),
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startOn(
  fixture: string,
  extra: string[] = [],
  set: CollectorSet<FactsByCollector> = collectors,
  serve: Pick<ExporterServiceOptions, "serveFrom" | "workerEntry"> = {},
) {
  const list: Collector<unknown>[] = Object.values(set);
  const tree = materializeFixture(fixture);
  cleanups.push(tree.remove);
  const command = parseCommandLine(
    [
      ...tree.flags,
      "--target.user=alice",
      "--web.listen-address=127.0.0.1:0",
      "--collect.timeout=60s",
      ...extra,
    ],
    {},
    list,
  );
  if (command.kind !== "serve") throw new Error("expected serve");
  const daemon = new ExporterService({
    config: command.config,
    collectors: set,
    version: "0.0.0-test",
    log: pino({ level: "silent" }),
    env: {},
    trigger: never,
    ...serve,
  });
  const { address } = await daemon.start();
  cleanups.push(() => daemon.stop());
  return (path: string, init?: RequestInit) =>
    fetch(`http://127.0.0.1:${address.port}${path}`, init);
}

async function until(get: () => Promise<string>, ok: (body: string) => boolean): Promise<string> {
  let body = "";
  await waitFor("the awaited body", async () => ok((body = await get())), 2000, {
    everyMs: 20,
    seen: () => body,
  });
  return body;
}

describe("Daemon HTTP", () => {
  it("serves /metrics, /, /healthz and 404s the rest", async () => {
    const get = await startOn("debian12");
    const body = await until(
      async () => (await get("/metrics")).text(),
      (b) => b.includes('rootless_collector_success{collector="subid"}'),
    );
    expect(body).toContain(
      'rootless_target_info{user="alice",uid="1000",runtime_dir="/run/user/1000"} 1',
    );
    expect(body).toContain("process_resident_memory_bytes");
    const metrics = await get("/metrics");
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const landing = await (await get("/")).text();
    expect(landing).toContain('<a href="/metrics">Metrics</a>');
    expect(landing).toMatch(/<td>subid<\/td><td>user<\/td><td>15s<\/td>/);
    expect(await (await get("/healthz")).text()).toBe("ok\n");
    expect((await get("/nope")).status).toBe(404);
    expect((await get("/metrics", { method: "POST" })).status).toBe(405);
    const head = await get("/metrics", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("honours --web.telemetry-path and --web.disable-exporter-metrics", async () => {
    const get = await startOn("healthy", [
      "--web.telemetry-path=/x/metrics",
      "--web.disable-exporter-metrics",
    ]);
    expect((await get("/metrics")).status).toBe(404);
    const body = await (await get("/x/metrics")).text();
    expect(body).toContain("rootless_exporter_build_info");
    expect(body).not.toContain("process_");
  });

  it("a hung collector neither blocks /metrics nor the other collectors", async () => {
    const withHung = { ...collectors, hung };
    const get = await startOn("healthy", [], withHung);
    const body = await until(
      async () => (await get("/metrics")).text(),
      (b) =>
        (b.match(/^rootless_collector_success\{/gm) ?? []).length ===
        Object.values(collectors).filter((c) => c.defaultEnabled).length,
    );
    expect(body).not.toContain('collector="hung"');
    const started = performance.now();
    for (let i = 0; i < 20; i++) expect((await get("/metrics")).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("served from a worker thread: the same pages, a new rendering published, a clean stop", async () => {
    const get = await startOn("debian12", [], collectors, {
      serveFrom: "worker",
      // A worker thread cannot load the sources: the built module (npm run build first).
      workerEntry: new URL("../../dist/exporter/http/serve-worker.js", import.meta.url),
    });
    const body = await until(
      async () => (await get("/metrics")).text(),
      (b) => b.includes('rootless_collector_success{collector="subid"}'),
    );
    expect(body).toContain(
      'rootless_target_info{user="alice",uid="1000",runtime_dir="/run/user/1000"} 1',
    );
    // The process metrics are re-rendered when stale and reach the worker without a collection.
    const cpu = (b: string) => /^process_cpu_user_seconds_total (\S+)$/m.exec(b)?.[1];
    await until(
      async () => (await get("/metrics")).text(),
      (b) => cpu(b) !== undefined && cpu(b) !== cpu(body),
    );
    const landing = await (await get("/")).text();
    expect(landing).toMatch(/<td>subid<\/td><td>user<\/td><td>15s<\/td>/);
    const checks = JSON.parse(await (await get("/checks?lang=zh-CN")).text()) as unknown;
    expect(checks).toBeTypeOf("object");
    expect(await (await get("/healthz")).text()).toBe("ok\n");
    expect((await get("/nope")).status).toBe(404);
  });
});
