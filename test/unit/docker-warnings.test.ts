import { describe, expect, it } from "vitest";
import { parseDockerInfo } from "../../src/collectors/docker/docker.js";
import { addDocker } from "../../src/collectors/docker/module.js";
import { parseWarnings, warningId } from "../../src/collectors/docker/warnings.js";
import { dockerResourceLimits } from "../../src/collectors/docker/warning-checks.js";
import { parseBoundedJson } from "../../src/host/bounded-json.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

// moby's own texts (daemon/info.go, daemon/info_unix.go at v20.10.24, v24.0.0 and master).
const mobyTexts: [string, string][] = [
  [
    "WARNING: Running in rootless-mode without cgroups. Systemd is required to enable cgroups in rootless-mode.",
    "rootless_no_cgroups",
  ],
  [
    "WARNING: Running in rootless-mode without cgroups. To enable cgroups in rootless-mode, you need to boot the system in cgroup v2 mode.",
    "rootless_no_cgroups",
  ],
  ["WARNING: No memory limit support", "no_memory_limit"],
  ["WARNING: No swap limit support", "no_swap_limit"],
  ["WARNING: No kernel memory TCP limit support", "no_kernel_memory_limit"],
  ["WARNING: No kernel memory limit support", "no_kernel_memory_limit"],
  ["WARNING: No oom kill disable support", "no_oom_kill_disable"],
  ["WARNING: No cpu cfs quota support", "no_cpu_cfs_quota"],
  ["WARNING: No cpu cfs period support", "no_cpu_cfs_period"],
  ["WARNING: No cpu shares support", "no_cpu_shares"],
  ["WARNING: No cpuset support", "no_cpuset"],
  ["WARNING: No io.weight support", "no_io_weight"],
  ["WARNING: No io.weight (per device) support", "no_io_weight"],
  ["WARNING: No blkio weight support", "no_io_weight"],
  ["WARNING: No io.max (rbps) support", "no_io_throttle"],
  ["WARNING: No blkio throttle.write_iops_device support", "no_io_throttle"],
  [
    "WARNING: Support for cgroup v1 is deprecated and planned to be removed by no later than May 2029 (https://github.com/moby/moby/issues/51111)",
    "cgroup_v1_deprecated",
  ],
  ["WARNING: IPv4 forwarding is disabled", "ipv4_forwarding_disabled"],
  ["WARNING: bridge-nf-call-iptables is disabled", "bridge_nf_call_iptables_disabled"],
  ["WARNING: bridge-nf-call-ip6tables is disabled", "bridge_nf_call_ip6tables_disabled"],
  ["WARNING: DOCKER_INSECURE_NO_IPTABLES_RAW is set", "no_iptables_raw"],
  [
    "WARNING: devicemapper: usage of loopback devices is strongly discouraged for production use.",
    "loopback_devices",
  ],
  [
    "WARNING: overlay2: the backing xfs filesystem is formatted without d_type support, which leads to incorrect behavior.\n         Reformat the filesystem with ftype=1 to enable d_type support.",
    "no_dtype",
  ],
  [
    "WARNING: the overlay storage-driver is deprecated, and will be removed in a future release.",
    "storage_driver_deprecated",
  ],
  [
    "WARNING: API is accessible on http://0.0.0.0:2375 without encryption.\n         Access to the remote API is equivalent to root access on the host.",
    "api_without_tls",
  ],
  [
    "[DEPRECATION NOTICE]: API is accessible on https://0.0.0.0:2376 without TLS client verification.",
    "api_without_tls",
  ],
  ["WARNING: daemon is not using the default seccomp profile", "seccomp_not_default"],
  [
    "WARNING: Running with experimental embedded-containerd mode. This feature may change or be removed in a future release.",
    "embedded_containerd",
  ],
  [
    "WARNING: fuse-overlayfs: extended file attributes from container images will be silently discarded if the backing filesystem does not support them.\n",
    "xattrs_best_effort",
  ],
  // Look-alikes and the rest: never a known id by accident.
  ["WARNING: No memory limit support at all", "other"],
  ["warning: ipv4 forwarding is disabled", "other"],
  ["Some plugin's own words", "other"],
  ["", "other"],
];

describe("docker /info Warnings", () => {
  it.each(mobyTexts)("%j is %s", (text, id) => expect(warningId(text)).toBe(id));

  it("what is not a string, or longer than any of moby's, is other", () => {
    const long = `WARNING: No memory limit support${" ".repeat(2000)}`;
    expect([1, null, {}, ["WARNING: No cpuset support"], long].map(warningId)).toEqual(
      Array(5).fill("other"),
    );
  });

  it("null is none, an absent or odd field is unknown", () => {
    expect(parseWarnings(null)).toEqual({ total: 0, byId: {} });
    expect(parseWarnings(undefined)).toBeUndefined();
    expect(parseWarnings("WARNING: No cpuset support")).toBeUndefined();
    expect(parseWarnings({ 0: "WARNING: No cpuset support" })).toBeUndefined();
  });

  it("a huge list: counted whole, matched for its first 256 only", () => {
    const list = Array(100_000).fill("WARNING: IPv4 forwarding is disabled");
    const started = performance.now();
    const parsed = parseWarnings(list);
    expect(performance.now() - started).toBeLessThan(500);
    expect(parsed).toEqual({
      total: 100_000,
      byId: { ipv4_forwarding_disabled: 256, other: 99_744 },
    });
  });

  it("a literal /info of Debian 12's rootless docker.io on cgroup v1, through the JSON bound", () => {
    const body = JSON.stringify({
      ServerVersion: "20.10.24+dfsg1",
      Driver: "overlay2",
      CgroupDriver: "none",
      CgroupVersion: "1",
      DockerRootDir: "/home/alice/.local/share/docker",
      SecurityOptions: ["name=seccomp,profile=default", "name=rootless"],
      Warnings: [
        "WARNING: Running in rootless-mode without cgroups. To enable cgroups in rootless-mode, you need to boot the system in cgroup v2 mode.",
        "WARNING: bridge-nf-call-iptables is disabled",
        "WARNING: bridge-nf-call-ip6tables is disabled",
      ],
    });
    const json = parseBoundedJson(body);
    const info = json.ok ? parseDockerInfo(json.value) : undefined;
    expect(info?.warnings).toEqual({
      total: 3,
      byId: {
        rootless_no_cgroups: 1,
        bridge_nf_call_iptables_disabled: 1,
        bridge_nf_call_ip6tables_disabled: 1,
      },
    });
    const series: string[] = [];
    const facts = healthyFacts().docker;
    addDocker({ add: (m, l, v) => series.push(`${m} ${l["warning"] ?? ""} ${v}`) }, "alice", {
      ...facts,
      ...(info && { info }),
    });
    expect(series.filter((s) => s.startsWith("dockerWarning"))).toEqual([
      "dockerWarnings  3",
      "dockerWarning bridge_nf_call_ip6tables_disabled 1",
      "dockerWarning bridge_nf_call_iptables_disabled 1",
      "dockerWarning rootless_no_cgroups 1",
    ]);
  });

  it("a deep Warnings list is refused by the JSON bound before it is parsed", () => {
    const body = `{"Warnings":${"[".repeat(5000)}${"]".repeat(5000)}}`;
    const json = parseBoundedJson(body);
    expect(json.ok).toBe(false);
  });

  it("nested and mixed lists inside the bound count as other, never echoed", () => {
    const json = parseBoundedJson(
      JSON.stringify({ Warnings: [[["WARNING: No cpuset support"]], 42, "\u202eevil", null] }),
    );
    const info = json.ok ? parseDockerInfo(json.value) : undefined;
    expect(info?.warnings).toEqual({ total: 4, byId: { other: 4 } });
  });

  it("docker_resource_limits names the controllers, not the daemon's text", () => {
    const facts = healthyFacts();
    const info = facts.docker.info;
    if (!info) throw new Error("healthy facts have /info");
    const warnings = { total: 3, byId: { no_cpuset: 1, no_io_throttle: 2 } };
    const verdict = dockerResourceLimits.evaluate({
      facts: { docker: { ...facts.docker, info: { ...info, warnings } } },
      target: alice,
    });
    expect(verdict.state).toBe("fail");
    expect(verdict.summary.en).toContain("through the cpuset, io controllers");
    expect(verdict.summary["zh-CN"]).toContain("cpuset、io");
  });
});
