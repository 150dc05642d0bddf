import type { RunningDaemon } from "./daemon.js";

// The one poll-until and the one scrape of every ring: a test waits for the state it needs, never
// for a fixed time, and a timeout says what it waited for and what it saw last.

/**
 * Polls `check` every `everyMs` until it holds; throws after `timeoutMs`, naming `what` and, when
 * `seen` is given, the last state it describes. A check that throws ends the wait with its error
 * (catch in the check what may fail while waiting). Returns the milliseconds waited.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  { everyMs = 100, seen }: { everyMs?: number; seen?: () => string } = {},
): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const last = seen?.() ?? "";
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last: ${last}` : ""}`,
  );
}

/** One timed GET; `timeoutMs` bounds it (a scrape under TCG on a loaded host took 6 s). */
export async function scrapeUrl(
  url: string,
  timeoutMs = 30_000,
): Promise<{ body: string; ms: number; status: number }> {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await response.text();
  return { body, ms: performance.now() - started, status: response.status };
}

export async function scrape(
  exporter: RunningDaemon,
  path = "/metrics",
): Promise<{ body: string; ms: number }> {
  const { body, ms } = await scrapeUrl(exporter.url(path));
  return { body, ms };
}

const series = (body: string) =>
  body
    .split("\n")
    .filter((l) => l.startsWith("rootless_"))
    .join("\n");

/**
 * Scrapes with `get` until `check` holds for the body, timing every scrape meanwhile; the error
 * shows the last body's rootless_ series.
 */
export async function metricsWhen(
  what: string,
  get: () => Promise<{ body: string; ms: number }>,
  check: (body: string) => boolean,
  timeoutMs: number,
): Promise<{ body: string; waitedMs: number; slowestScrapeMs: number }> {
  let last = "";
  let slowest = 0;
  const waitedMs = await waitFor(
    `${what} in /metrics`,
    async () => {
      const { body, ms } = await get();
      slowest = Math.max(slowest, ms);
      last = body;
      return check(body);
    },
    timeoutMs,
    { seen: () => `/metrics:\n${series(last)}` },
  );
  return { body: last, waitedMs, slowestScrapeMs: slowest };
}

/** Polls the exporter's /metrics (or `path`) until `check` holds, timing every scrape meanwhile. */
export function expectSoon(
  exporter: RunningDaemon,
  what: string,
  check: (body: string) => boolean,
  timeoutMs: number,
  path = "/metrics",
): Promise<{ body: string; waitedMs: number; slowestScrapeMs: number }> {
  return metricsWhen(what, () => scrape(exporter, path), check, timeoutMs);
}
