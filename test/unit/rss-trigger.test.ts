import { afterEach, describe, expect, it, vi } from "vitest";
import { clockTrigger, missedToleranceMs, nextTick } from "../../src/exporter/schedule/trigger.js";

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();
const zone = process.env["TZ"];

afterEach(() => {
  vi.useRealTimers();
  if (zone === undefined) delete process.env["TZ"];
  else process.env["TZ"] = zone;
});

describe("nextTick: the clock-aligned ticks cron gave", () => {
  it("an interval under a minute ticks on the epoch's seconds, strictly after now", () => {
    expect(iso(nextTick(15, at("2026-12-08T00:00:00.000Z")))).toBe("2026-12-08T00:00:15.000Z");
    expect(iso(nextTick(15, at("2026-12-08T00:00:14.999Z")))).toBe("2026-12-08T00:00:15.000Z");
    expect(iso(nextTick(15, at("2026-12-08T00:00:59.500Z")))).toBe("2026-12-08T00:01:00.000Z");
    expect(iso(nextTick(1, at("2026-12-08T00:00:07.250Z")))).toBe("2026-12-08T00:00:08.000Z");
    process.env["TZ"] = "Asia/Kathmandu";
    expect(iso(nextTick(30, at("2026-12-08T00:00:07.000Z")))).toBe("2026-12-08T00:00:30.000Z");
  });

  it("a longer one on local time: UTC, +05:45 and -05:00", () => {
    process.env["TZ"] = "UTC";
    expect(iso(nextTick(1800, at("2026-12-08T00:10:00Z")))).toBe("2026-12-08T00:30:00.000Z");
    expect(iso(nextTick(21600, at("2026-12-08T07:00:00Z")))).toBe("2026-12-08T12:00:00.000Z");
    expect(iso(nextTick(86400, at("2026-12-08T07:00:00Z")))).toBe("2026-12-09T00:00:00.000Z");
    // Nepal: local :00 and :30 are UTC :15 and :45.
    process.env["TZ"] = "Asia/Kathmandu";
    expect(iso(nextTick(1800, at("2026-12-08T00:10:00Z")))).toBe("2026-12-08T00:15:00.000Z");
    expect(iso(nextTick(3600, at("2026-12-08T00:20:00Z")))).toBe("2026-12-08T01:15:00.000Z");
    // New York in winter (-05:00): local midnight is 05:00 UTC, local 06:00 is 11:00 UTC.
    process.env["TZ"] = "America/New_York";
    expect(iso(nextTick(86400, at("2026-12-08T07:00:00Z")))).toBe("2026-12-09T05:00:00.000Z");
    expect(iso(nextTick(21600, at("2026-12-08T07:00:00Z")))).toBe("2026-12-08T11:00:00.000Z");
  });

  it("across a change of offset, the first local-time match after it", () => {
    process.env["TZ"] = "America/New_York";
    // 2026-03-08: 02:00 EST (07:00 UTC) becomes 03:00 EDT. Local 06:00 EDT is 10:00 UTC.
    expect(iso(nextTick(21600, at("2026-03-08T06:30:00Z")))).toBe("2026-03-08T10:00:00.000Z");
    // Local midnight of the 9th is 04:00 UTC (EDT), not 05:00.
    expect(iso(nextTick(86400, at("2026-03-08T12:00:00Z")))).toBe("2026-03-09T04:00:00.000Z");
    // 2026-11-01: 02:00 EDT (06:00 UTC) becomes 01:00 EST. Local 06:00 EST is 11:00 UTC.
    expect(iso(nextTick(21600, at("2026-11-01T05:00:00Z")))).toBe("2026-11-01T11:00:00.000Z");
    for (const interval of [3600, 7200, 21600, 86400])
      for (let t = at("2026-03-07T00:00:00Z"); t < at("2026-03-10T00:00:00Z"); t += 997_000) {
        const tick = nextTick(interval, t);
        expect(tick).toBeGreaterThan(t);
        const local = new Date(tick);
        const seconds = local.getHours() * 3600 + local.getMinutes() * 60 + local.getSeconds();
        expect(seconds % interval, `${interval}s after ${iso(t)}: ${iso(tick)}`).toBe(0);
      }
  });
});

describe("clockTrigger: a timer in place of node-cron", () => {
  const logger = () => {
    const warnings: { fields: Record<string, unknown>; text: string }[] = [];
    const log = {
      warn: (fields: Record<string, unknown>, text: string) => warnings.push({ fields, text }),
    };
    return { warnings, log: log as unknown as Parameters<typeof clockTrigger>[0] };
  };

  it("fires on every tick of the clock, once each, until stopped", () => {
    vi.useFakeTimers({ now: at("2026-12-08T00:00:03.400Z") });
    const { log, warnings } = logger();
    const fired: string[] = [];
    const trigger = clockTrigger(log)(15, "cycle-15s", () => fired.push(iso(Date.now())));
    vi.advanceTimersByTime(11_599);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    vi.advanceTimersByTime(45_000);
    expect(fired).toEqual([
      "2026-12-08T00:00:15.000Z",
      "2026-12-08T00:00:30.000Z",
      "2026-12-08T00:00:45.000Z",
      "2026-12-08T00:01:00.000Z",
    ]);
    trigger.stop();
    vi.advanceTimersByTime(60_000);
    expect(fired).toHaveLength(4);
    expect(warnings).toEqual([]);
  });

  it("a tick let through too late is logged as missed, not run; the next one runs", () => {
    vi.useFakeTimers({ now: at("2026-12-08T00:00:00.500Z") });
    const { log, warnings } = logger();
    const fired: string[] = [];
    // The wall clock as the trigger reads it: `late` ms ahead of the timers' own.
    let late = 0;
    const clock = () => Date.now() + late;
    const trigger = clockTrigger(log, clock)(1, "cycle-1s", () => fired.push(iso(clock())));
    vi.advanceTimersByTime(500);
    expect(fired).toEqual(["2026-12-08T00:00:01.000Z"]);
    // The process stopped (or the loop blocked) for 5 s: the timer of 00:00:02 runs at 00:00:07.
    late = 5000;
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual(["2026-12-08T00:00:01.000Z"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.text).toMatch(/^missed execution at 2026-12-08T00:00:02\.000Z/);
    expect(warnings[0]?.fields).toMatchObject({ component: "trigger", trigger: "cycle-1s" });
    expect(Number(warnings[0]?.fields["lateMs"])).toBeGreaterThan(missedToleranceMs);
    vi.advanceTimersByTime(2000);
    expect(fired).toEqual([
      "2026-12-08T00:00:01.000Z",
      "2026-12-08T00:00:08.000Z",
      "2026-12-08T00:00:09.000Z",
    ]);
    expect(warnings).toHaveLength(1);
    trigger.stop();
  });

  it("late within the tolerance still runs", () => {
    vi.useFakeTimers({ now: at("2026-12-08T00:00:00.000Z") });
    const { log, warnings } = logger();
    const fired: string[] = [];
    let late = 0;
    const clock = () => Date.now() + late;
    const trigger = clockTrigger(log, clock)(15, "cycle-15s", () => fired.push(iso(clock())));
    late = missedToleranceMs - 100;
    vi.advanceTimersByTime(15_000);
    expect(fired).toEqual(["2026-12-08T00:00:15.900Z"]);
    expect(warnings).toEqual([]);
    trigger.stop();
  });

  it("refuses an interval the clock cannot align", () => {
    const { log } = logger();
    expect(() => clockTrigger(log)(7, "cycle-7s", () => undefined)).toThrow(/cannot be scheduled/);
  });
});
