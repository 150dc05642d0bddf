import { describe, expect, it } from "vitest";
import { networkMtu } from "../../src/checks/network-checks.js";
import type { ProbeFacts } from "../../src/collectors/probe/probe.js";
import { healthyFacts, input } from "../helpers/healthy-facts.js";

const probed = (bytesPerSecond: number): ProbeFacts => ({
  port: { path: "port", supported: false, reason: "not probed" },
  network: { path: "network", supported: true, ok: true, bytesPerSecond },
});

describe("network_mtu says what was measured", () => {
  const cases: [string, string, number, ProbeFacts | undefined, string, RegExp[], RegExp[]][] = [
    // name, driver, MTU, probe, state, in the English summary and fix, in the Chinese summary and fix
    [
      "pasta at Docker's default 1500",
      "pasta",
      1500,
      undefined,
      "fail",
      [
        /MTU 1500; 65520/,
        /test host \(rootlesskit 2\.0\.2\): pasta's network path moved 50–100 MB\/s at MTU 1500 and 520–1,190 MB\/s at MTU 65520/,
      ],
      [/MTU 1500 时为 50–100 MB\/s/, /MTU 65520 时为 520–1,190 MB\/s/],
    ],
    [
      "pasta at 1500, probed here",
      "pasta",
      1500,
      probed(9.1e7),
      "fail",
      [/Measured here by the probe: 91 MB\/s at MTU 1500\./],
      [/本机探测实测：MTU 1500 时为 91 MB\/s/],
    ],
    [
      "slirp4netns at 1500",
      "slirp4netns",
      1500,
      undefined,
      "fail",
      [/slirp4netns's network path moved 80–320 MB\/s at MTU 1500/],
      [/slirp4netns 的网络路径/],
    ],
    [
      "pasta at 65520, probed here",
      "pasta",
      65520,
      probed(9.5e8),
      "pass",
      [/^pasta runs with MTU 65520\. Measured here by the probe: 950 MB\/s at MTU 65520\.$/m],
      [/950 MB\/s/],
    ],
    [
      "vpnkit: the MTU matters little",
      "vpnkit",
      1500,
      undefined,
      "pass",
      [/matters little/],
      [/影响不大/],
    ],
  ];
  it.each(cases)("%s", (_name, driver, mtu, probe, state, en, zh) => {
    const facts = healthyFacts();
    facts.network = { ...facts.network, driver, mtu };
    if (probe) facts.probe = probe;
    const verdict = networkMtu.evaluate(input(facts));
    expect(verdict.state).toBe(state);
    const english = `${verdict.summary.en}\n${verdict.remediation?.en ?? ""}`;
    const chinese = `${verdict.summary["zh-CN"]}\n${verdict.remediation?.["zh-CN"] ?? ""}`;
    for (const pattern of en) expect(english).toMatch(pattern);
    for (const pattern of zh) expect(chinese).toMatch(pattern);
    if (state === "fail") {
      expect(verdict.remediation?.en).toMatch(
        /DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520[\s\S]*Measured on a test host/,
      );
      expect(verdict.remediation?.["zh-CN"]).toMatch(/测试主机实测/);
    }
  });
});
