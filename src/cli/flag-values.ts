import { UsageError, cronForInterval, maxTimerMs, parseDuration } from "../config.js";
import { intervalHelp } from "./flags.js";

export function durationFlag(name: string, raw: string): number {
  const ms = parseDuration(raw);
  if (ms === undefined) {
    throw new UsageError(
      `--${name}: expected a positive duration such as 10s, 1m or 1h30m, got "${raw}"`,
    );
  }
  return ms;
}

/** A duration that becomes a Node timer, so it must fit one (else it would fire after 1 ms). */
export function timerFlag(name: string, raw: string): number {
  const ms = durationFlag(name, raw);
  if (ms > maxTimerMs) {
    throw new UsageError(
      `--${name}: at most ${Math.floor(maxTimerMs / 1000)}s (Node's longest timer, about 24.8 days), got "${raw}"`,
    );
  }
  return ms;
}

export function countFlag(name: string, raw: string, min: number): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min)
    throw new UsageError(`--${name}: expected a whole number of at least ${min}, got "${raw}"`);
  return Number(raw);
}

export function intervalFlag(name: string, raw: string): number {
  const ms = durationFlag(name, raw);
  const seconds = ms / 1000;
  if (cronForInterval(seconds) === undefined) {
    throw new UsageError(`--${name}: expected ${intervalHelp}; got "${raw}"`);
  }
  return seconds;
}
