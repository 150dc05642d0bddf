import type { RunningDaemon } from "./daemon.js";

export async function scrape(exporter: RunningDaemon): Promise<{ body: string; ms: number }> {
  const started = performance.now();
  const body = await (await fetch(exporter.url("/metrics"))).text();
  return { body, ms: performance.now() - started };
}

/** Polls /metrics until `check` holds, timing every scrape meanwhile. */
export async function expectSoon(
  exporter: RunningDaemon,
  what: string,
  check: (body: string) => boolean,
  timeoutMs: number,
): Promise<{ body: string; waitedMs: number; slowestScrapeMs: number }> {
  const started = performance.now();
  let last = "";
  let slowest = 0;
  while (performance.now() - started < timeoutMs) {
    const { body, ms } = await scrape(exporter);
    slowest = Math.max(slowest, ms);
    last = body;
    if (check(body))
      return { body, waitedMs: performance.now() - started, slowestScrapeMs: slowest };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what} not reported within ${timeoutMs} ms; last /metrics:\n${last
      .split("\n")
      .filter((l) => l.startsWith("rootless_"))
      .join("\n")}`,
  );
}
