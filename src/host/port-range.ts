import { readKernelText } from "./files.js";
import type { HostRoots } from "./paths.js";
import { procPath } from "./paths.js";
import { listen, portOf } from "./tcp-probe.js";

export interface PortRange {
  readonly low: number;
  readonly high: number;
}

/** The kernel's default ip_local_port_range (Documentation/networking/ip-sysctl.rst). */
export const defaultEphemeralRange: PortRange = { low: 32768, high: 60999 };

/** "32768\t60999\n": the range listen(0) and connect(2) take ports from. */
export function parsePortRange(text: string): PortRange | undefined {
  const match = /^\s*(\d{1,5})\s+(\d{1,5})\s*$/.exec(text);
  const [low, high] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || low < 1 || high > 65535 || low > high) return undefined;
  return { low, high };
}

/**
 * A free loopback port below the ephemeral range. pasta's automatic forwarding (`-t auto`) leaves
 * the ephemeral range out (passt 2025 and later list "1-32767, 61000-65535"): a port that listen(0)
 * hands out would never be forwarded. Below 10000 are the well-known services.
 */
export async function freeForwardablePort(roots: HostRoots, attempts = 32): Promise<number> {
  const text = await readKernelText(procPath(roots, "sys/net/ipv4/ip_local_port_range"));
  const range = (text.ok && parsePortRange(text.text)) || defaultEphemeralRange;
  const [from, to] = [10_000, Math.max(10_001, range.low - 1)];
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    try {
      const server = await listen("127.0.0.1", port);
      const free = portOf(server);
      await new Promise((resolve) => server.close(resolve));
      return free;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`no free port in ${from}-${to} after ${attempts} tries (${String(lastError)})`);
}
