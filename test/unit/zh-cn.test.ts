import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckInput, CheckState, Finding } from "../../src/checks/finding.js";
import { checks, evaluateChecks } from "../../src/checks/registry.js";
import { collectorList } from "../../src/collectors/registry.js";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import { scriptDefault } from "../../src/collectors/network/network-config.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import { Targets } from "../../src/targets/targets.js";
import { collectorContext } from "../helpers/context.js";
import { cases, infoCases } from "../helpers/diagnosis-cases.js";
import type { FixtureTree } from "../helpers/fixtures.js";
import { fixtureNames, materializeFixture } from "../helpers/fixtures.js";
import type { DefaultFacts } from "../helpers/healthy-facts.js";
import { healthyFacts, input } from "../helpers/healthy-facts.js";
import { englishProse } from "../helpers/zh-prose.js";

/** A copy without some optional fields (facts are readonly). */
function omit<T extends object, K extends keyof T>(value: T, ...keys: K[]): Omit<T, K> {
  const kept = Object.entries(value).filter(([key]) => !keys.includes(key as K));
  return Object.fromEntries(kept) as Omit<T, K>;
}

function texts(finding: Finding): string[] {
  return [finding.summary["zh-CN"], finding.remediation?.["zh-CN"] ?? ""];
}

/** Inputs that leave each check without the facts it needs, one way after another. */
function unknownInputs(): [string, CheckInput][] {
  const base = input(healthyFacts());
  const without = Object.keys(healthyFacts()).map((name): [string, CheckInput] => {
    const facts: Partial<FactsByCollector> = { ...healthyFacts() };
    delete facts[name as keyof FactsByCollector];
    return [`without ${name}`, { target: base.target, facts }];
  });
  const variant = (name: string, mutate: (f: DefaultFacts) => void): [string, CheckInput] => {
    const facts = healthyFacts();
    mutate(facts);
    return [name, input(facts)];
  };
  return [
    ["no facts at all", { target: base.target, facts: {} }],
    ...without,
    variant("no daemon at all", (f) => {
      const docker = omit(f.docker, "info", "dataRoot");
      f.docker = { ...docker, dockerdUp: false, apiUp: false, pidFile: "missing" };
      f.rootlesskit = { up: false, dockerPidFile: "missing", apiUp: false };
      f.network = {};
    }),
    variant("stopped daemon, judged from its unit and daemon.json", (f) => {
      const docker = omit(f.docker, "info", "dataRoot");
      f.docker = {
        ...docker,
        dockerdUp: false,
        apiUp: false,
        pidFile: "missing",
        configured: {
          configFile: "/home/alice/.config/docker/daemon.json",
          configState: "ok",
          dataRoot: "/srv/docker",
          dataRootSource: "daemon.json",
          dataRootFs: "nfs4",
          storageDriver: "fuse-overlayfs",
          storageDriverSource: "daemon.json",
        },
      };
      f.rootlesskit = { up: false, dockerPidFile: "missing", apiUp: false };
      f.network = {
        configured: {
          unitFile: "/home/alice/.config/systemd/user/docker.service",
          driver: "slirp4netns",
          mtu: 1500,
          portDriver: "builtin",
          sources: {
            driver: scriptDefault,
            mtu: "/home/alice/.config/systemd/user/docker.service.d/override.conf",
            portDriver: scriptDefault,
          },
        },
      };
    }),
    variant("stopped daemon, daemon.json unusable, no network driver installed", (f) => {
      const docker = omit(f.docker, "info", "dataRoot");
      f.docker = {
        ...docker,
        dockerdUp: false,
        apiUp: false,
        pidFile: "missing",
        configured: { configFile: "/home/alice/.config/docker/daemon.json", configState: "unsafe" },
      };
      f.rootlesskit = { up: false, dockerPidFile: "missing", apiUp: false };
      f.network = {
        configured: {
          unitFile: "/home/alice/.config/systemd/user/docker.service",
          mtu: 1500,
          portDriver: "builtin",
          sources: { driver: scriptDefault, mtu: scriptDefault, portDriver: scriptDefault },
        },
      };
    }),
    variant("dockerd up, /info unanswered", (f) => {
      const docker = omit(f.docker, "info", "dataRoot");
      f.docker = { ...docker, apiUp: false, apiError: "GET /_ping answered 500" };
    }),
    variant("kernel without evidence", (f) => {
      const kernel = omit(
        f.kernel,
        "moduleStates",
        "modules",
        "rootlesskitBinary",
        "pingGroupRange",
        "release",
      );
      f.kernel = {
        ...kernel,
        sysctls: {},
        idmapHelpers: {},
        storageDrivers: {},
        modulesMissingEvidence: "/proc/modules, /proc/config.gz",
        rootlesskitBinary: { path: "/usr/bin/rootlesskit" },
      };
    }),
    variant("cgroup v2 without a user manager", (f) => {
      f.cgroup = omit(f.cgroup, "delegated");
      f.dbus = { ...f.dbus, units: [{ unit: "docker.service", error: "No such unit" }] };
    }),
    variant("cgroup version unreadable, no MTU, no port driver", (f) => {
      f.cgroup = { delegationPath: f.cgroup.delegationPath };
      f.network = { ...omit(f.network, "mtu"), driver: "slirp4netns" };
      f.rootlesskit = omit(f.rootlesskit, "info");
    }),
    variant("an unknown storage driver support", (f) => {
      f.kernel = { ...f.kernel, storageDrivers: { vfs: { ok: true, reason: "" } } };
    }),
    variant("stale dir unknown while up", (f) => {
      f.rootlesskit = omit(f.rootlesskit, "stateDirStale");
    }),
  ];
}

function matrixInputs(): [string, CheckInput][] {
  const rows = [...cases, ...infoCases].map(([name, mutate]): [string, CheckInput] => {
    const facts = healthyFacts();
    mutate(facts);
    return [name, input(facts)];
  });
  return [["healthy", input(healthyFacts())], ...rows];
}

describe("zh-CN: whole Chinese sentences", () => {
  const seen = new Map<string, Set<CheckState>>();
  const trees: FixtureTree[] = [];
  const fixtureInputs: [string, CheckInput][] = [];

  // The fixture hosts through the real collectors: their reasons are the collectors' own words.
  beforeAll(async () => {
    for (const name of fixtureNames) {
      const tree = materializeFixture(name);
      trees.push(tree);
      const roots = {
        procfs: `${tree.dir}/proc`,
        sysfs: `${tree.dir}/sys`,
        rootfs: `${tree.dir}/root`,
      };
      const targets = await Targets.create(
        roots,
        { users: ["alice"], exclude: [], minUid: undefined },
        {},
      );
      const host = new HostState();
      const [target] = await targets.resolve(new Cycle(targets.wants), host);
      if (!target) throw new Error(`no alice in fixture ${name}`);
      const facts: Record<string, unknown> = {};
      for (const collector of collectorList.filter((c) => c.defaultEnabled)) {
        const ctx = collectorContext(roots, target, { collector, rpcTimeoutMs: 200 });
        facts[collector.name] = await collector.collect(ctx);
      }
      fixtureInputs.push([`fixture ${name}`, { target, facts }]);
    }
  }, 30_000);
  afterAll(() => trees.forEach((t) => t.remove()));

  it.each([
    ["无法判断：缺少关于 delegation (not a cgroup v2 host) 的信息。", ["not a cgroup host"]],
    [
      "docker.service's state (the user manager did not answer)",
      ["the user manager did not answer"],
    ],
    ["`sudo modprobe ip_tables` 并写入 /etc/modules-load.d/ 以便开机加载。", []],
    ['rootlesskit 会报错 "fork/exec /proc/self/exe: operation not permitted"。', []],
    ["在 Arch Linux 上，user@1000.service 的 cap_setuid=ep 与 net.ipv4.ping_group_range", []],
    ["[Service]\nDelegate=cpu cpuset io memory pids\n然后运行", []],
  ])("the detector: %j has %j", (zh, prose) => {
    expect(englishProse(zh)).toEqual(prose);
  });

  it("every summary and remediation of every check, in every state, on every input", () => {
    const inputs = [...matrixInputs(), ...unknownInputs(), ...fixtureInputs];
    const problems: string[] = [];
    for (const [name, checkInput] of inputs) {
      for (const finding of evaluateChecks(checkInput)) {
        (seen.get(finding.id) ?? seen.set(finding.id, new Set()).get(finding.id))?.add(
          finding.state,
        );
        for (const zh of texts(finding)) {
          const prose = englishProse(zh);
          if (prose.length > 0)
            problems.push(`${name} / ${finding.id}: ${prose.join(" | ")}: ${zh}`);
        }
      }
    }
    expect(problems).toEqual([]);
    // Every check was seen passing, failing and unknown: the inputs reach every state.
    const missing = checks.flatMap((c) =>
      (["pass", "fail", "unknown"] as const)
        .filter((state) => !seen.get(c.id)?.has(state))
        .map((state) => `${c.id}:${state}`),
    );
    expect(missing).toEqual([]);
  });
});
