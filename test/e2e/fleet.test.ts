import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { collectorList } from "../../src/collectors/registry.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import { projectRoot, seriesLines, startDaemon, waitForMetrics } from "../helpers/daemon.js";
import type { FixtureTree } from "../helpers/fixtures.js";
import { hostSetuidRoot, materializeFixture } from "../helpers/fixtures.js";
import { waitFor } from "../helpers/rootless-docker.js";
import type { DaemonSpec, RunningHost } from "../helpers/running-host.js";
import { fixtureDaemons, startRunningHost } from "../helpers/running-host.js";

// A simulated fleet: exporters on fixture hosts with a known mix of faults, two site Prometheus
// servers (external_labels site=a, site=b) with deploy/prometheus/rules.yml, and a global one
// federating their records with deploy/prometheus/federation.yml and global-rules.yml. The sites
// differ in size, so a mean of the sites' ratios would not give the fleet's ratio.
const prometheusBin = "/usr/bin/prometheus";
const dbusDaemon = ["/usr/bin/dbus-daemon", "/bin/dbus-daemon"].find((p) => existsSync(p));
const setuidRoot = process.getuid?.() === 0 || hostSetuidRoot() !== undefined;
const canRun = existsSync(prometheusBin) && dbusDaemon !== undefined && setuidRoot;
// The 50 by default (about 70 s here); ROOTLESS_TEST_FLEET_SIZE=12 for a quicker run.
// The release artifact when scripts/test-all.sh hands it in (its own Node and dist/), else dist/.
const deb = process.env["ROOTLESS_TEST_DEB"];
const fleetSize = Math.max(12, Number(process.env["ROOTLESS_TEST_FLEET_SIZE"] ?? 50));

type Kind = "healthy" | "debian12" | "broken";
const specs: Record<Exclude<Kind, "broken">, DaemonSpec> = fixtureDaemons;
/** Site a: 5 of 7 hosts healthy; site b: 1 of 5 (repeated to the fleet's size). */
const patterns: Record<string, Kind[]> = {
  a: ["healthy", "healthy", "healthy", "healthy", "healthy", "debian12", "broken"],
  b: ["healthy", "debian12", "debian12", "broken", "broken"],
};

interface Host {
  readonly site: string;
  readonly kind: Kind;
  readonly daemon: RunningDaemon;
  readonly instance: string;
  readonly body: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Prometheus {
  readonly url: string;
  readonly child: ChildProcess;
}

async function startPrometheus(
  dir: string,
  config: unknown,
  ruleFiles: Record<string, string>,
): Promise<Prometheus> {
  mkdirSync(dir);
  for (const [name, text] of Object.entries(ruleFiles)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, "prometheus.yml"), stringify(config));
  const port = await freePort();
  const child = spawn(
    prometheusBin,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: "ignore" },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `Prometheus in ${dir}`,
    async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200,
    30_000,
  );
  return { url, child };
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(kill);
}

type Sample = { metric: Record<string, string>; value: [number, string] };
async function query(prometheus: Prometheus, expr: string): Promise<Sample[]> {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const json = (await response.json()) as { status: string; data: { result: Sample[] } };
  if (json.status !== "success") throw new Error(`${expr}: ${JSON.stringify(json)}`);
  return json.data.result;
}
/** name{labels} -> value, labels sorted, for toEqual against the fixtures' figures. */
async function table(prometheus: Prometheus, expr: string, keys: string[]) {
  const rows = await query(prometheus, expr);
  return Object.fromEntries(
    rows.map((r) => [keys.map((k) => r.metric[k] ?? "").join("|"), Number(r.value[1])]),
  );
}

/** The figures the fixtures give, computed from each exporter's own /metrics. */
function expected(hosts: readonly Host[]) {
  const perSite: Record<string, { sum: number; count: number }> = {};
  const failing: Record<string, number> = {};
  for (const host of hosts) {
    const site = (perSite[host.site] ??= { sum: 0, count: 0 });
    for (const line of seriesLines(host.body)) {
      const compliant = /^rootless_compliant\{[^}]*\} (\d)$/.exec(line);
      if (compliant) {
        site.sum += Number(compliant[1]);
        site.count += 1;
      }
      const check = /^rootless_check_ok\{.*check="(\w+)",severity="(\w+)"\} 0$/.exec(line);
      if (check) failing[`${check[1]}|${check[2]}`] = (failing[`${check[1]}|${check[2]}`] ?? 0) + 1;
    }
  }
  return { perSite, failing };
}

describe.skipIf(!canRun)(
  `a simulated fleet of ${fleetSize} exporters (${deb ? "the .deb" : "dist/"}), two sites, one global Prometheus`,
  () => {
    const work = mkdtempSync(join(tmpdir(), "rootless-exporter-fleet-"));
    const hosts: Host[] = [];
    const cleanups: (() => Promise<void> | void)[] = [];
    const sites: Record<string, Prometheus> = {};
    let global: Prometheus;
    let artifact: { node: string; main: string } | undefined;

    async function startHost(site: string, kind: Kind): Promise<Host> {
      let running: RunningHost | undefined;
      let tree: FixtureTree | undefined;
      if (kind === "broken") {
        tree = materializeFixture("broken");
        cleanups.push(() => tree?.remove());
      } else {
        running = await startRunningHost(kind, specs[kind]);
        cleanups.push(() => running?.stop());
      }
      const flags = (running?.tree ?? tree)?.flags ?? [];
      const daemon = await startDaemon([...flags, "--target.user=alice"], {
        ...(running && { env: running.env }),
        ...artifact,
      });
      cleanups.push(async () => void (await daemon.stop()));
      const body = await waitForMetrics(
        daemon,
        (b) =>
          (b.match(/^rootless_collector_success\{/gm) ?? []).length ===
            collectorList.filter((c) => c.defaultEnabled).length &&
          /^rootless_compliant\{/m.test(b),
        30_000,
      );
      return { site, kind, daemon, instance: `127.0.0.1:${daemon.port}`, body };
    }

    beforeAll(async () => {
      if (deb) {
        const unpacked = join(work, "package");
        execFileSync("dpkg-deb", ["-x", deb, unpacked]);
        const lib = join(unpacked, "usr/lib/rootless-exporter");
        artifact = { node: join(lib, "node"), main: join(lib, "dist/main.js") };
      }
      const size = { a: Math.round((fleetSize * 7) / 12), b: 0 };
      size.b = fleetSize - size.a;
      const wanted = Object.entries(size).flatMap(([site, n]) =>
        Array.from(
          { length: n },
          (_, i) =>
            [site, patterns[site]?.[i % (patterns[site]?.length ?? 1)] ?? "healthy"] as const,
        ),
      );
      // Four at a time: the machine has two cores.
      for (let i = 0; i < wanted.length; i += 4)
        hosts.push(...(await Promise.all(wanted.slice(i, i + 4).map(([s, k]) => startHost(s, k)))));

      const rules = readFileSync(join(projectRoot, "deploy/prometheus/rules.yml"), "utf8").replace(
        /for: \d+m/g,
        "for: 1s",
      );
      for (const site of ["a", "b"])
        sites[site] = await startPrometheus(
          join(work, `site-${site}`),
          {
            global: { scrape_interval: "1s", evaluation_interval: "1s", external_labels: { site } },
            rule_files: ["rules.yml"],
            scrape_configs: [
              {
                job_name: "rootless-exporter",
                static_configs: [
                  { targets: hosts.filter((h) => h.site === site).map((h) => h.instance) },
                ],
              },
            ],
          },
          { "rules.yml": rules },
        );
      // The shipped federation job, pointed at the two sites.
      const federation = parse(
        readFileSync(join(projectRoot, "deploy/prometheus/federation.yml"), "utf8"),
      ) as {
        scrape_configs: { static_configs: { targets: string[] }[] }[];
      };
      const job = federation.scrape_configs[0];
      if (!job?.static_configs[0]) throw new Error("deploy/prometheus/federation.yml has no job");
      job.static_configs[0].targets = Object.values(sites).map((p) => p.url.replace("http://", ""));
      global = await startPrometheus(
        join(work, "global"),
        {
          global: { scrape_interval: "1s", evaluation_interval: "1s" },
          rule_files: ["global-rules.yml"],
          scrape_configs: [job],
        },
        {
          "global-rules.yml": readFileSync(
            join(projectRoot, "deploy/prometheus/global-rules.yml"),
            "utf8",
          ),
        },
      );
    }, 300_000);

    afterAll(async () => {
      await stopProcess(global?.child);
      for (const p of Object.values(sites)) await stopProcess(p.child);
      for (const cleanup of cleanups.reverse()) await cleanup();
      rmSync(work, { recursive: true, force: true });
    }, 120_000);

    it("has the mix of hosts it was built with", () => {
      const kinds = (site: string) => hosts.filter((h) => h.site === site).map((h) => h.kind);
      expect(hosts).toHaveLength(fleetSize);
      // The package's version carries the commit; dist/ run from the checkout does not.
      const packaged = hosts.filter((h) => /build_info\{version="[^"]*\+g[0-9a-f]{7}/.test(h.body));
      expect(packaged).toHaveLength(deb ? fleetSize : 0);
      expect(kinds("a")).toContain("broken");
      expect(kinds("b").filter((k) => k === "healthy").length).toBeLessThan(kinds("b").length / 2);
    });

    it("the global ratios, per-site figures and failing checks by id equal the fixtures' exactly", async () => {
      const { perSite, failing } = expected(hosts);
      const total = Object.values(perSite).reduce(
        (t, s) => ({ sum: t.sum + s.sum, count: t.count + s.count }),
        { sum: 0, count: 0 },
      );
      const figures = async () => ({
        ratio: await table(global, "rootless_global:users_compliant:ratio", []),
        sums: await table(global, "rootless:users_compliant:sum", ["site"]),
        counts: await table(global, "rootless:users_compliant:count", ["site"]),
        siteRatios: await table(global, "rootless:users_compliant:ratio", ["site"]),
        hosts: await table(global, "rootless_global:hosts_compliant:ratio", []),
        failing: await table(global, "rootless_global:checks_failed:sum", ["check", "severity"]),
      });
      const want = {
        ratio: { "": total.sum / total.count },
        sums: { a: perSite["a"]?.sum, b: perSite["b"]?.sum },
        counts: { a: perSite["a"]?.count, b: perSite["b"]?.count },
        siteRatios: Object.fromEntries(
          Object.entries(perSite).map(([s, v]) => [s, v.sum / v.count]),
        ),
        // One watched user per host: the hosts' ratio is the users'.
        hosts: { "": total.sum / total.count },
        failing,
      };
      let got = await figures();
      await waitFor(
        "the global view to match the fixtures",
        async () => {
          got = await figures();
          return isDeepStrictEqual(got, want);
        },
        60_000,
      ).catch(() => undefined);
      expect(got).toEqual(want);
      // Not the mean of the sites' ratios: the sites differ in size and in health.
      const mean = Object.values(want.siteRatios).reduce((a, b) => a + b, 0) / 2;
      expect(want.ratio[""]).not.toBeCloseTo(mean, 3);
      expect(Object.keys(failing).length).toBeGreaterThan(5);
    }, 90_000);

    it("each site fires RootlessRootlesskitDown for exactly its broken hosts, and HostNotCompliant for the unhealthy", async () => {
      for (const [site, prometheus] of Object.entries(sites)) {
        const instances = (kinds: Kind[]) =>
          hosts
            .filter((h) => h.site === site && kinds.includes(h.kind))
            .map((h) => h.instance)
            .sort();
        const firing = async (alert: string) =>
          (await query(prometheus, `ALERTS{alertname="${alert}",alertstate="firing"}`))
            .map((s) => s.metric["instance"] ?? "")
            .sort();
        const want = { down: instances(["broken"]), unhealthy: instances(["broken", "debian12"]) };
        let got = { down: [] as string[], unhealthy: [] as string[] };
        await waitFor(
          `site ${site}'s alerts`,
          async () => {
            got = {
              down: await firing("RootlessRootlesskitDown"),
              unhealthy: await firing("RootlessHostNotCompliant"),
            };
            return isDeepStrictEqual(got, want);
          },
          30_000,
        ).catch(() => undefined);
        expect(got).toEqual(want);
        expect(want.down.length).toBeGreaterThan(0);
      }
    }, 90_000);

    it("one site going away changes only its own figures", async () => {
      const before = await table(global, "rootless:users_compliant:ratio", ["site"]);
      const a = expected(hosts.filter((h) => h.site === "a")).perSite["a"] ?? { sum: 0, count: 1 };
      await stopProcess(sites["b"]?.child);
      const figures = async () => ({
        siteRatios: await table(global, "rootless:users_compliant:ratio", ["site"]),
        counts: await table(global, "rootless:users_compliant:count", ["site"]),
        ratio: await table(global, "rootless_global:users_compliant:ratio", []),
        up: await table(global, 'up{job="rootless-federate"}', ["instance"]),
      });
      const want = {
        siteRatios: { a: before["a"] },
        counts: { a: a.count },
        ratio: { "": a.sum / a.count },
        up: {
          [sites["a"]?.url.replace("http://", "") ?? ""]: 1,
          [sites["b"]?.url.replace("http://", "") ?? ""]: 0,
        },
      };
      let got = await figures();
      await waitFor(
        "site b to drop out of the global view",
        async () => {
          got = await figures();
          return isDeepStrictEqual(got, want);
        },
        30_000,
      ).catch(() => undefined);
      expect(got).toEqual(want);
    }, 60_000);
  },
);
