import type { ProbePathFacts } from "../collectors/probe/probe.js";
import type { Text } from "./verdict.js";
import { text } from "./verdict.js";

/**
 * The network path's throughput at MTU 1500 and 65520, measured on this project's test machine
 * (2 shared cores, rootlesskit 2.0.2 and passt 2025-05-03 from Debian 13): bench/probe.mjs and
 * iperf3 side by side over the same paths, ranges over three runs (README, driver table).
 */
const measured: Record<string, { readonly at1500: string; readonly at65520: string }> = {
  pasta: { at1500: "50–100 MB/s", at65520: "520–1,190 MB/s" },
  slirp4netns: { at1500: "80–320 MB/s", at65520: "550–1,050 MB/s" },
};

/** What the test machine measured for the driver, or an empty text for a driver it did not. */
export function mtuEvidence(driver: string): Text {
  const m = measured[driver];
  if (!m) return text("", "");
  return text(
    ` Measured on a test host (rootlesskit 2.0.2): ${driver}'s network path moved ${m.at1500} at MTU 1500 and ${m.at65520} at MTU 65520.`,
    `测试主机实测（rootlesskit 2.0.2）：${driver} 的网络路径在 MTU 1500 时为 ${m.at1500}，在 MTU 65520 时为 ${m.at65520}。`,
  );
}

/** The probe's own measurement of this host's network path, when it ran and succeeded. */
export function probedHere(network: ProbePathFacts | undefined, mtu: number): Text {
  const rate = network?.ok ? network.bytesPerSecond : undefined;
  if (rate === undefined) return text("", "");
  const mbs = (rate / 1e6).toFixed(0);
  return text(
    ` Measured here by the probe: ${mbs} MB/s at MTU ${mtu}.`,
    `本机探测实测：MTU ${mtu} 时为 ${mbs} MB/s。`,
  );
}
