import type { RunningDaemon } from "./daemon.js";
import { metricsWhen } from "./expect-soon.js";
import type { TrixieContainer } from "./trixie.js";

// A container with a network of its own (startTrixie(..., privateNetwork = true)) that looks like
// a host: loopback, and one address on a veth pair that carries the default route. The address is
// from RFC 2544's benchmarking range (198.18.0.0/15) and the gateway, 198.18.0.254, is nobody:
// rootlesskit's drivers and the probe find a "host" address and a default route, and nothing is
// added to the real host's namespace, so every test packet stays in the container.

/** The container's one address besides loopback. */
export const hostAddress = "198.18.0.1";

/** Gives a private-network container its loopback, the host address and the default route. */
export async function addHostNetwork(box: TrixieContainer): Promise<void> {
  for (const argv of [
    ["ip", "link", "set", "lo", "up"],
    ["ip", "link", "add", "rlx-host", "type", "veth", "peer", "name", "rlx-peer"],
    ["ip", "addr", "add", `${hostAddress}/24`, "dev", "rlx-host"],
    ["ip", "link", "set", "rlx-host", "up"],
    ["ip", "link", "set", "rlx-peer", "up"],
    // pasta needs a default route to pick its template interface.
    ["ip", "route", "add", "default", "via", "198.18.0.254"],
  ])
    await box.exec(argv);
}

const marker = "\n#curl ";

/**
 * One GET of `url` from inside the container's network namespace (curl, as root), with the time
 * curl measured for the exchange itself (not nsenter's and curl's start-up).
 */
export async function fetchInside(
  box: TrixieContainer,
  url: string,
  timeoutMs = 10_000,
): Promise<{ body: string; ms: number; status: number }> {
  const seconds = String(Math.ceil(timeoutMs / 1000));
  const out = await box.exec(
    ["curl", "-s", "--max-time", seconds, "-w", `${marker}%{http_code} %{time_total}`, url],
    timeoutMs + 5000,
  );
  const at = out.lastIndexOf(marker);
  const [status = "0", total = "0"] = out.slice(at + marker.length).split(" ");
  return { body: out.slice(0, at), ms: Number(total) * 1000, status: Number(status) };
}

/** /metrics (or `path`) of an exporter in the container's network namespace, scraped from inside. */
export async function scrapeInside(
  box: TrixieContainer,
  daemon: RunningDaemon,
  path = "/metrics",
): Promise<{ body: string; ms: number }> {
  const { body, ms } = await fetchInside(box, daemon.url(path));
  return { body, ms };
}

/** expectSoon for an exporter in the container's network namespace. */
export function expectSoonInside(
  box: TrixieContainer,
  exporter: RunningDaemon,
  what: string,
  check: (body: string) => boolean,
  timeoutMs: number,
): Promise<{ body: string; waitedMs: number; slowestScrapeMs: number }> {
  // A scrape that fails (the exporter not up yet) is an empty body: waited on like a miss.
  const get = () => scrapeInside(box, exporter).catch(() => ({ body: "", ms: 0 }));
  return metricsWhen(what, get, check, timeoutMs);
}
