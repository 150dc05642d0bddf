import type { Logger } from "pino";
import { cronForInterval } from "./intervals.js";

/** Something that calls `fire` every `intervalSeconds` until stopped. */
export interface Trigger {
  stop(): void;
}
export type TriggerFactory = (intervalSeconds: number, name: string, fire: () => void) => Trigger;

/** A tick later than this is not run: it is logged as missed and the next one is awaited. */
export const missedToleranceMs = 1000;

/**
 * The first tick after `afterMs` of an interval aligned to the clock, in milliseconds since the
 * epoch: a 15s interval ticks at :00, :15, :30, :45 of every minute, 30m at :00 and :30 of every
 * hour, 6h at 00:00, 06:00, 12:00 and 18:00 local time. An interval under a minute ticks on the
 * epoch's seconds, which are the local ones in every time zone of whole minutes; a longer one on
 * local time (`getTimezoneOffset`, read only for those), so a zone of +05:45 gets 30m ticks at its
 * own :00 and :30 as cron gave them. Across a change of offset (daylight saving) the tick is the
 * next local time that exists and matches: a skipped hour's tick is not made up, a repeated
 * hour ticks once.
 */
export function nextTick(intervalSeconds: number, afterMs: number): number {
  const periodMs = intervalSeconds * 1000;
  const step = (local: number): number => (Math.floor(local / periodMs) + 1) * periodMs;
  if (intervalSeconds < 60) return step(afterMs);
  const offsetMs = (at: number): number => -new Date(at).getTimezoneOffset() * 60_000;
  const first = offsetMs(afterMs);
  let local = afterMs + first;
  // A step or two finds one where offsets change a few times a year; bounded all the same.
  for (let steps = 0; steps < 48; steps++) {
    local = step(local);
    let found: number | undefined;
    const second = offsetMs(local - first);
    for (const offset of [first, second, offsetMs(local - second)]) {
      const tick = local - offset;
      if (tick > afterMs && offsetMs(tick) === offset && (found === undefined || tick < found))
        found = tick;
    }
    if (found !== undefined) return found;
  }
  return step(afterMs + first) - first;
}

/**
 * Fires every `intervalSeconds`, aligned to the clock (`nextTick`), with a plain timer. It replaces
 * node-cron, whose every tick formatted the date with `Intl.DateTimeFormat`: ICU's data and code,
 * ~9 MiB of file pages resident in every daemon for a clock this needs none of (docs/
 * performance.md, "The 1,000-user peak"). As cron did: a tick the event loop let through more than
 * `missedToleranceMs` late is not run but logged ("missed execution", at warn), and `fire` is
 * called once per tick whatever it started (a cycle's own runs never overlap: run.ts).
 */
export function clockTrigger(
  log: Pick<Logger, "warn">,
  /** The wall clock (a test's, to be late on purpose). */
  now: () => number = Date.now,
): TriggerFactory {
  return (intervalSeconds, name, fire) => {
    if (!cronForInterval(intervalSeconds))
      throw new Error(`interval ${intervalSeconds}s cannot be scheduled`);
    let stopped = false;
    let due = nextTick(intervalSeconds, now());
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      timer = setTimeout(beat, Math.max(0, due - now()));
    };
    const beat = (): void => {
      if (stopped) return;
      const at = now();
      // A timer may wake a little early (or the clock was set back): wait for the tick itself.
      if (at < due) return arm();
      const late = at - due;
      if (late <= missedToleranceMs) fire();
      else
        log.warn(
          { component: "trigger", trigger: name, tick: new Date(due).toISOString(), lateMs: late },
          `missed execution at ${new Date(due).toISOString()}: the event loop was blocked or the process stopped`,
        );
      due = nextTick(intervalSeconds, at);
      arm();
    };
    arm();
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  };
}
