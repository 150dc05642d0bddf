import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { collectorList as collectors } from "../src/collectors/registry.js";
import { metrics } from "../src/exporter/catalogue.js";
import type { RunningDaemon } from "./helpers/daemon.js";
import { projectRoot, startDaemon, waitForMetrics } from "./helpers/daemon.js";
import { hostSetuidRoot, materializeFixture } from "./helpers/fixtures.js";
import type { DaemonSpec, RunningHost } from "./helpers/running-host.js";
import { requireOnCi, withReason } from "./helpers/prerequisites.js";
import { adoptAlice, fixtureDaemons, startRunningHost } from "./helpers/running-host.js";
import { englishProse } from "./helpers/zh-prose.js";

// Regenerate on purpose with: UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts
const update = process.env["UPDATE_GOLDEN"] === "1";
const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));
const dbusDaemon = ["/usr/bin/dbus-daemon", "/bin/dbus-daemon"].find((p) => existsSync(p));
const setuidRoot = process.getuid?.() === 0 || hostSetuidRoot() !== undefined;

/** The fixture hosts: two with a rootless Docker running, one broken host without any. */
const hosts: Readonly<Record<string, DaemonSpec | undefined>> = {
  ...fixtureDaemons,
  broken: undefined,
};

/** The probe is off by default and needs real namespaces: test/e2e/probe.test.ts covers it. */
const notInGoldens = new Set(
  Object.values(metrics)
    .filter((m) => m.name.startsWith("rootless_probe_"))
    .map((m) => m.name),
);

/**
 * Drops what changes from run to run (timings, timestamps, the Node and exporter versions, the
 * process and Node.js figures) and writes the test's own uid, which the running hosts give alice,
 * as 1000, so the golden is the same for root and for anyone else.
 */
export function normalize(body: string, uid: number): string {
  const families = /^(# (HELP|TYPE) )?(process_|nodejs_)/;
  return body
    .split("\n")
    .filter((line) => !families.test(line))
    .map((line) =>
      line
        .replace(
          /^(rootless_collector_(duration_seconds|last_success_timestamp_seconds)\{[^}]*\}|rootless_dbus_user_bus_ping_seconds\{[^}]*\}) .*$/,
          "$1 SECONDS",
        )
        .replace(
          /^(rootless_docker_data_root_(size_bytes|free_bytes|inodes|free_inodes)\{[^}]*\}) .*$/,
          "$1 MEASURED",
        )
        .replace(/nodejs_version="[^"]*"/, 'nodejs_version="NODE"')
        .replace(/version="\d+\.\d+\.\d+[^"]*"/, 'version="VERSION"')
        .replace(`uid="${uid}"`, 'uid="1000"')
        .replaceAll(`/run/user/${uid}/`, "/run/user/1000/")
        .replaceAll(`/run/user/${uid}"`, '/run/user/1000"'),
    )
    .join("\n")
    .replace(/\n{3,}/g, "\n\n");
}

const bodies = new Map<string, string>();
const checks = new Map<string, { id: string; state: string }[]>();
const zhChecks = new Map<string, { id: string; summary: string; remediation?: string }[]>();

async function scrape(name: string, spec: DaemonSpec | undefined): Promise<void> {
  let host: RunningHost | undefined;
  let daemon: RunningDaemon | undefined;
  const tree = spec ? undefined : materializeFixture(name);
  // alice is the test's own user here too, so that an unprivileged run may read her runtime dir.
  if (tree) adoptAlice(tree.dir, process.getuid?.() ?? 1000, process.getgid?.() ?? 1000);
  try {
    host = spec ? await startRunningHost(name, spec) : undefined;
    const flags = (host?.tree ?? tree)?.flags ?? [];
    // The data root's figures are this machine's disk (normalized below): thresholds at 0 keep
    // data_root_space and data_root_full passing however full it is (test/unit covers them).
    const thresholds = [
      "--check.data-root-free-warning-ratio=0",
      "--check.data-root-free-critical-ratio=0",
    ];
    daemon = await startDaemon([...flags, "--target.user=alice", ...thresholds], {
      ...(host && { env: host.env }),
    });
    const body = await waitForMetrics(
      daemon,
      (b) =>
        (b.match(/^rootless_collector_success\{/gm) ?? []).length ===
          collectors.filter((c) => c.defaultEnabled).length && /^rootless_compliant\{/m.test(b),
    );
    bodies.set(name, body);
    const json = (await (await fetch(daemon.url("/checks"))).json()) as {
      targets: { checks: { id: string; state: string }[] }[];
    };
    checks.set(
      name,
      json.targets.flatMap((t) => t.checks),
    );
    const zh = (await (await fetch(daemon.url("/checks?lang=zh-CN"))).json()) as {
      targets: { checks: { id: string; summary: string; remediation?: string }[] }[];
    };
    zhChecks.set(
      name,
      zh.targets.flatMap((t) => t.checks),
    );
  } finally {
    await daemon?.stop();
    await host?.stop();
    tree?.remove();
  }
}

// `broken` runs no daemon and needs no bus; the two running hosts need dbus-daemon for the D-Bus
// doubles. Every fixture has setuid helpers, which only root can make (else a symlink to one).
const setuidMissing = setuidRoot
  ? undefined
  : "not root and no setuid-root program on this host to stand for newuidmap";
const busMissing = dbusDaemon
  ? undefined
  : "no dbus-daemon for the D-Bus doubles of the running hosts (apt-get install -y dbus)";
const missingFor = (spec: DaemonSpec | undefined) =>
  setuidMissing ?? (spec ? busMissing : undefined);
const runnable = Object.keys(hosts).filter((name) => missingFor(hosts[name]) === undefined);
const promtoolMissing = promtool ? undefined : "no promtool (apt-get install -y prometheus)";

describe("golden /metrics on fixture hosts", () => {
  for (const [name, spec] of Object.entries(hosts)) {
    const missing = missingFor(spec);
    it.skipIf(requireOnCi(missing))(
      withReason(`${name} matches test/golden/${name}.prom`, missing),
      async () => {
        await scrape(name, spec);
        const body = bodies.get(name) ?? "";
        const golden = join(projectRoot, "test/golden", `${name}.prom`);
        const uid = process.getuid?.() ?? 1000;
        if (update) writeFileSync(golden, normalize(body, uid));
        expect(normalize(body, uid)).toBe(readFileSync(golden, "utf8"));
        // The default output: the exporter's own metrics are in it.
        expect(body).toMatch(/^process_cpu_seconds_total /m);
        expect(body).toMatch(/^nodejs_heap_size_used_bytes /m);
      },
      30_000,
    );
  }

  it.skipIf(missingFor(hosts["healthy"]) !== undefined)("healthy: every check passes", () => {
    const failing = (checks.get("healthy") ?? []).filter((c) => c.state !== "pass");
    expect(checks.get("healthy")?.length).toBeGreaterThan(20);
    expect(failing).toEqual([]);
  });

  it("/checks?lang=zh-CN of every fixture host: whole Chinese sentences", () => {
    expect([...zhChecks.keys()].sort()).toEqual(runnable.sort());
    const prose = [...zhChecks].flatMap(([name, list]) =>
      list.flatMap((c) =>
        [c.summary, c.remediation ?? ""].flatMap((t) =>
          englishProse(t).map((p) => `${name} / ${c.id}: ${p}`),
        ),
      ),
    );
    expect(prose).toEqual([]);
  });

  it("every metric family of the contract appears in a golden (the probe's aside)", () => {
    const goldens = Object.keys(hosts).map((name) =>
      readFileSync(join(projectRoot, "test/golden", `${name}.prom`), "utf8"),
    );
    const absent = Object.values(metrics)
      .map((m) => m.name)
      .filter((name) => !notInGoldens.has(name))
      .filter((name) => !goldens.some((g) => new RegExp(`^${name}(\\{| )`, "m").test(g)));
    expect(notInGoldens.size).toBe(4);
    expect(absent).toEqual([]);
  });

  it.skipIf(requireOnCi(promtoolMissing))(
    withReason(
      "promtool check metrics passes on each default /metrics, exporter metrics included",
      promtoolMissing,
    ),
    () => {
      expect([...bodies.keys()].sort()).toEqual(runnable.sort());
      for (const [name, body] of bodies) {
        const run = spawnSync(promtool as string, ["check", "metrics"], {
          input: body,
          encoding: "utf8",
        });
        expect(`${name}: ${run.stdout}${run.stderr}`).toBe(`${name}: `);
        expect(run.status).toBe(0);
      }
    },
  );
});
