import { describe, expect, it } from "vitest";
import type { Finding } from "../../src/checks/finding.js";
import { checks, evaluateChecks, exitCode } from "../../src/checks/registry.js";
import { metrics } from "../../src/exporter/catalogue.js";
import type { DefaultFacts } from "../helpers/healthy-facts.js";
import { healthyFacts, input } from "../helpers/healthy-facts.js";

const blocking = (findings: Finding[]) =>
  findings.filter((f) => f.state === "fail" && f.severity !== "info").map((f) => f.id);

type Mutation = (facts: DefaultFacts) => void;

// "Diagnosis must be right": each single misconfiguration of the guide fails exactly the check
// meant for it and no other warning or critical check.
const cases: [string, Mutation, string][] = [
  ["no linger", (f) => void (f.linger = { enabled: false, source: "logind" }), "linger"],
  [
    "no subgid entry",
    (f) =>
      void (f.subid = {
        ...f.subid,
        gid: { ...f.subid.gid, summary: { size: 0, ranges: 0, overlaps: 0 } },
      }),
    "subgid_range",
  ],
  [
    "a 1,000-ID subuid range",
    (f) =>
      void (f.subid = {
        ...f.subid,
        uid: { ...f.subid.uid, summary: { size: 1000, ranges: 1, overlaps: 0 } },
      }),
    "subuid_range",
  ],
  [
    "overlapping ranges",
    (f) =>
      void (f.subid = {
        ...f.subid,
        uid: { ...f.subid.uid, summary: { size: 65536, ranges: 1, overlaps: 1 } },
      }),
    "subid_overlap",
  ],
  [
    "max_user_namespaces 0",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "user.max_user_namespaces": 0 },
      }),
    "max_user_namespaces",
  ],
  [
    "unprivileged_userns_clone 0",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "kernel.unprivileged_userns_clone": 0 },
      }),
    "userns_clone",
  ],
  [
    "cgroup v1",
    (f) =>
      void (f.cgroup = {
        delegationPath: f.cgroup.delegationPath,
        version: 1,
        versionSource: "statfs",
      }),
    "cgroup_v2",
  ],
  [
    "memory+pids-only delegation",
    (f) => void (f.cgroup = { ...f.cgroup, delegated: ["memory", "pids"] }),
    "cgroup_delegation",
  ],
  [
    "NFS data root",
    (f) =>
      void (f.docker = {
        ...f.docker,
        dataRoot: { path: "/home/alice/.local/share/docker", fsType: "nfs4" },
      }),
    "data_root_nfs",
  ],
  [
    "user bus down",
    (f) => void (f.dbus = { address: f.dbus.address, busUp: false, error: "ENOENT" }),
    "dbus_user_bus",
  ],
  [
    "docker.service failed",
    (f) =>
      void (f.dbus = { ...f.dbus, units: [{ unit: "docker.service", activeState: "failed" }] }),
    "docker_service",
  ],
  [
    "stale state dir",
    (f) =>
      void (f.rootlesskit = {
        ...f.rootlesskit,
        stateDirStale: true,
        staleReason: "child_pid: no live process 77",
      }),
    "state_dir_stale",
  ],
  [
    "AppArmor restriction without profile",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "kernel.apparmor_restrict_unprivileged_userns": 1 },
      }),
    "apparmor_userns",
  ],
  [
    "newgidmap without setuid",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        idmapHelpers: { ...f.kernel.idmapHelpers, newgidmap: { ok: false, reason: "not setuid" } },
      }),
    "idmap_helpers",
  ],
  [
    "runtime dir mode 0755",
    (f) => void (f.docker = { ...f.docker, runtimeDir: { ...f.docker.runtimeDir, mode: 0o755 } }),
    "xdg_runtime_dir",
  ],
  [
    "overlay2 on kernel 5.4",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        storageDrivers: {
          ...f.kernel.storageDrivers,
          overlay2: { ok: false, reason: "kernel 5.4 < 5.11" },
        },
      }),
    "storage_driver",
  ],
  [
    "no iptables at all",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        modules: { ...f.kernel.modules, nf_tables: false, ip_tables: false },
      }),
    "iptables_modules",
  ],
  [
    "dockerd down",
    (f) => void (f.docker = { ...f.docker, dockerdUp: false, apiUp: false, pidFile: "dead" }),
    "dockerd_running",
  ],
  [
    "rootlesskit down",
    (f) => void (f.rootlesskit = { ...f.rootlesskit, up: false }),
    "rootlesskit_running",
  ],
];

describe("checks", () => {
  it("a healthy host fails no check at all", () => {
    const findings = evaluateChecks(input(healthyFacts()));
    expect(findings.filter((f) => f.state !== "pass").map((f) => [f.id, f.state])).toEqual([]);
  });

  it.each(cases)("%s fails %s and no other warning or critical check", (_name, mutate, id) => {
    const facts = healthyFacts();
    mutate(facts);
    const findings = evaluateChecks(input(facts));
    expect(
      blocking(findings).concat(
        findings
          .filter((f) => f.id === id && f.state === "fail" && f.severity === "info")
          .map((f) => f.id),
      ),
    ).toEqual([id]);
    const finding = findings.find((f) => f.id === id);
    expect(finding?.remediation?.en).toBeTruthy();
    expect(finding?.remediation?.["zh-CN"]).toMatch(/[\u4e00-\u9fff]/);
  });

  it.each([
    [
      "MTU 1500 with slirp4netns",
      (f: DefaultFacts) => void (f.network = { ...f.network, driver: "slirp4netns", mtu: 1500 }),
      ["network_driver", "network_mtu"],
    ],
    [
      "the builtin port driver",
      (f: DefaultFacts) =>
        void (f.rootlesskit = {
          ...f.rootlesskit,
          info: {
            ...f.rootlesskit.info,
            networkDriver: { driver: "slirp4netns", dns: [] },
            portDriver: { driver: "builtin", protos: ["tcp"] },
          },
        }),
      ["source_ip_propagation"],
    ],
    [
      "ping_group_range 1 0",
      (f: DefaultFacts) =>
        void (f.kernel = { ...f.kernel, pingGroupRange: { low: 1, high: 0 }, pingAllowed: false }),
      ["ping_group_range"],
    ],
    [
      "ports below 1024 without the capability",
      (f: DefaultFacts) =>
        void (f.kernel = {
          ...f.kernel,
          rootlesskitBinary: { path: "/usr/bin/rootlesskit", netBindService: false },
        }),
      ["privileged_ports"],
    ],
  ])("%s fails only info checks: %j", (_name, mutate, ids) => {
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

  it("ids are stable snake_case, unique, in alphabetical order, and metric labels exist", () => {
    const ids = checks.map((c) => c.id);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(metrics.checkOk.labels).toEqual(["user", "check", "severity"]);
  });
});
