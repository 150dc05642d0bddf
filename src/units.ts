/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer one fires after 1 ms. */
export const maxTimerMs = 2 ** 31 - 1;

/** Units of flags and options: durations and byte counts (pure, shared by the CLI and collectors). */

const durationPattern = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** A Prometheus-style duration ("15s", "1m30s", "500ms") in milliseconds; undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  const match = durationPattern.exec(text);
  if (!match || text === "") return undefined;
  const [, h = "0", m = "0", s = "0", ms = "0"] = match;
  const total = ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ms);
  return total > 0 && Number.isSafeInteger(total) ? total : undefined;
}

/** A byte count: "67108864", "64MiB", "512KiB", "1GiB" (binary units), or "10MB" (decimal). */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d{1,12})(B|KiB|MiB|GiB|KB|MB|GB)?$/.exec(text);
  if (!match) return undefined;
  const units: Record<string, number> = {
    B: 1,
    KiB: 1024,
    MiB: 1024 ** 2,
    GiB: 1024 ** 3,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
  };
  const value = Number(match[1]) * (units[match[2] ?? "B"] ?? 1);
  return value > 0 && Number.isSafeInteger(value) ? value : undefined;
}
