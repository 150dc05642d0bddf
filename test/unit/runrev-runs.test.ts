import type { Logger } from "pino";
import { pino } from "pino";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { HostCollector } from "../../src/collectors/collector.js";
import type { Facts } from "../helpers/runrev.js";
import { after, failAfter, fake, never, runOf, scheduler, user } from "../helpers/runrev.js";

// Review of the run path (helper "runrev"): a hostile watched user and a hostile scheduler
// situation against the scheduler's runs, through its public API only, so the same file runs on
// main (a314b87) and on wt/runpath. Each run must keep its own timeout (from its own start), its
// own duration and its own error; nothing late may be written over a timeout; a cycle that starts
// while another runs must skip only what still runs.

describe("runrev: a user's runs under attack", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("a hung key of one user fails that collector of that user alone, each duration its own", async () => {
    const a = fake("a");
    const b = fake("b");
    const { s, fire } = scheduler({ a, b }, () => [user("eve", 2001), user("bob", 2002)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    a.key = (ctx) => (ctx.target.name === "eve" ? never() : Promise.resolve("k"));
    // b's key is slow for both users, yet under the timeout.
    b.key = () => after(600, "k");
    fire();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runOf(s, "a", "eve")).toMatchObject({ ok: false, durationSeconds: 1 });
    expect(runOf(s, "a", "bob")).toMatchObject({ ok: true, durationSeconds: 0 });
    expect(runOf(s, "b", "eve")).toMatchObject({ ok: true, durationSeconds: 0.6 });
    expect(runOf(s, "b", "bob")).toMatchObject({ ok: true, durationSeconds: 0.6 });
    await s.stop();
  });

  it("a slow key uses up its own run's timeout only, and a key's time is in its run's duration", async () => {
    const slow = fake("slow");
    const fast = fake("fast");
    const { s, fire } = scheduler({ slow, fast }, () => [user("eve", 2001)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    // A changed key after 700 ms, then a 400 ms collection: 1.1 s in all, over the 1 s timeout.
    slow.key = (_, again) => (again ? Promise.resolve("k2") : after(700, "k2"));
    slow.work = () => after(400, { n: ++slow.collects });
    fast.key = (_, again) => (again ? Promise.resolve("k2") : after(100, "k2"));
    fast.work = () => after(800, { n: ++fast.collects });
    fire();
    await vi.advanceTimersByTimeAsync(999);
    expect(runOf(s, "fast", "eve")).toMatchObject({ ok: true, durationSeconds: 0.9 });
    expect(runOf(s, "slow", "eve")).toMatchObject({ ok: true, durationSeconds: 0 });
    await vi.advanceTimersByTimeAsync(1);
    expect(runOf(s, "slow", "eve")).toMatchObject({ ok: false, durationSeconds: 1 });
    await s.stop();
  });

  it("throws, sync and async, in inputs, collect and refresh fail their own run only", async () => {
    const syncCollect = fake("syncCollect", { keyed: false });
    const asyncKey = fake("asyncKey");
    const syncRefresh = fake("syncRefresh", { refresh: true });
    const notError = fake("notError");
    const fine = fake("fine");
    const set = { syncCollect, asyncKey, syncRefresh, notError, fine };
    const { s, fire } = scheduler(set, () => [user("eve", 2001)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    syncCollect.work = () => {
      throw new Error("sync collect");
    };
    asyncKey.key = () => Promise.reject(new Error("async key"));
    syncRefresh.refresh = () => {
      throw new Error("sync refresh");
    };
    notError.key = () => {
      throw "a string";
    };
    fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(runOf(s, "syncCollect", "eve")).toMatchObject({ ok: false, error: "sync collect" });
    expect(runOf(s, "asyncKey", "eve")).toMatchObject({ ok: false, error: "async key" });
    expect(runOf(s, "syncRefresh", "eve")).toMatchObject({ ok: false, error: "sync refresh" });
    expect(runOf(s, "notError", "eve")).toMatchObject({ ok: false, error: "a string" });
    expect(runOf(s, "fine", "eve")).toMatchObject({ ok: true });
    // Nothing stays busy: the next cycle runs every one of them again.
    syncRefresh.refresh = undefined as never;
    fire();
    await vi.advanceTimersByTimeAsync(0);
    for (const name of Object.keys(set)) expect(runOf(s, name, "eve")?.runs).toBe(3);
    await s.stop();
  });

  it("late facts or a late failure after the timeout are not written over it, and free the slot", async () => {
    const late = fake("late");
    const lateFail = fake("lateFail");
    const { s, fire } = scheduler({ late, lateFail }, () => [user("eve", 2001)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    late.key = (_, again) => (again ? Promise.resolve("k2") : after(1500, "k2"));
    lateFail.key = () => failAfter(1500, "late failure");
    fire();
    await vi.advanceTimersByTimeAsync(1000);
    const timedOut = "run abandoned after the 1000 ms timeout";
    expect(runOf(s, "late", "eve")).toMatchObject({ ok: false, error: timedOut, runs: 2 });
    expect(runOf(s, "lateFail", "eve")).toMatchObject({ ok: false, error: timedOut, runs: 2 });
    await vi.advanceTimersByTimeAsync(1000);
    // Settled since: nothing new recorded, no second error counted.
    expect(runOf(s, "late", "eve")).toMatchObject({ ok: false, error: timedOut, runs: 2 });
    expect(runOf(s, "lateFail", "eve")).toMatchObject({ ok: false, errorsTotal: 1, runs: 2 });
    late.key = () => Promise.resolve("k2");
    lateFail.key = () => Promise.resolve("k2");
    fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(runOf(s, "late", "eve")).toMatchObject({ ok: true, runs: 3 });
    expect(runOf(s, "lateFail", "eve")).toMatchObject({ ok: true, runs: 3 });
    await s.stop();
  });

  it("a cycle starting while one run still goes skips that run alone", async () => {
    const busy = fake("busy", { keyed: false });
    const done = fake("done", { keyed: false });
    const { s, fire } = scheduler({ busy, done }, () => [user("eve", 2001)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    busy.work = () => after(900, { n: ++busy.collects });
    fire();
    await vi.advanceTimersByTimeAsync(200);
    expect([busy.collects, done.collects]).toEqual([2, 2]);
    fire(); // busy's run still goes: skipped, no record; done's ran to its end: run again
    await vi.advanceTimersByTimeAsync(0);
    expect([busy.collects, done.collects]).toEqual([2, 3]);
    expect(runOf(s, "done", "eve")).toMatchObject({ ok: true, runs: 3 });
    expect(runOf(s, "busy", "eve")).toMatchObject({ ok: true, runs: 1 });
    await vi.advanceTimersByTimeAsync(700);
    expect(runOf(s, "busy", "eve")).toMatchObject({ ok: true, runs: 2, durationSeconds: 0.9 });
    await s.stop();
  });

  it("each user's runs are timed from that user's start (a later user gets a whole timeout)", async () => {
    const a = fake("a", { keyed: false });
    // Nine users: the pool runs eight at once and hands a hung one off after 100 ms.
    const users = Array.from({ length: 12 }, (_, i) => user(`u${i}`, 3000 + i));
    const { s, fire } = scheduler({ a }, () => users);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    a.work = () => never();
    fire();
    await vi.advanceTimersByTimeAsync(5000);
    for (const u of users) {
      const run = runOf(s, "a", u.name);
      expect(run).toMatchObject({ ok: false, error: "run abandoned after the 1000 ms timeout" });
      expect(run?.durationSeconds).toBe(1);
    }
    await s.stop();
  });

  it("a user removed while their run hangs: nothing of theirs comes back when it settles late", async () => {
    const a = fake("a");
    let users = [user("eve", 2001), user("bob", 2002)];
    const { s, fire } = scheduler({ a }, () => users);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    a.key = (ctx, again) =>
      ctx.target.name === "eve" && !again ? after(3000, "k2") : Promise.resolve("k");
    fire();
    await vi.advanceTimersByTimeAsync(500);
    users = [user("bob", 2002)];
    fire(); // resolves without eve: retired
    await vi.advanceTimersByTimeAsync(3000);
    expect(runOf(s, "a", "eve")).toBeUndefined();
    expect(s.collectorStates().find((c) => c.name === "a")).toMatchObject({ ok: true });
    // Back again: a fresh slot, run at once (not blocked by the old run).
    users = [user("eve", 2001), user("bob", 2002)];
    a.key = () => Promise.resolve("k3");
    fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(runOf(s, "a", "eve")).toMatchObject({ ok: true, runs: 1 });
    await s.stop();
  });

  it("runs of one user with two timeouts: one's timer and late settle never touch the other", async () => {
    const short = fake("short");
    const long = fake("long", { timeoutMs: 3000 });
    const { s, fire } = scheduler({ short, long }, () => [user("eve", 2001)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    short.key = (_, again) => (again ? Promise.resolve("k2") : after(1200, "k2"));
    long.key = (_, again) => (again ? Promise.resolve("k2") : after(2500, "k2"));
    fire();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runOf(s, "short", "eve")).toMatchObject({ ok: false, durationSeconds: 1 });
    expect(runOf(s, "long", "eve")).toMatchObject({ ok: true, runs: 1 });
    await vi.advanceTimersByTimeAsync(1500);
    expect(runOf(s, "long", "eve")).toMatchObject({ ok: true, runs: 2, durationSeconds: 2.5 });
    expect(runOf(s, "short", "eve")).toMatchObject({ ok: false, runs: 2 });
    await s.stop();
  });

  it("a cycle's runs are timed by their own cycle's timer, not by the last cycle's", async () => {
    const hung = fake("hung");
    const b = fake("b");
    const { s, fire } = scheduler({ hung, b }, () => [user("eve", 2001)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    hung.key = () => never();
    fire(); // at 0: hung's run and b's (reused at once)
    await vi.advanceTimersByTimeAsync(500);
    b.key = (_, again) => (again ? Promise.resolve("k2") : after(900, "k2"));
    fire(); // at 500: hung skipped; b's key takes 900 ms, under its own timeout (at 1500)
    await vi.advanceTimersByTimeAsync(500);
    expect(runOf(s, "hung", "eve")).toMatchObject({ ok: false, durationSeconds: 1 });
    expect(runOf(s, "b", "eve")).toMatchObject({ ok: true, runs: 2 });
    await vi.advanceTimersByTimeAsync(400);
    expect(runOf(s, "b", "eve")).toMatchObject({ ok: true, runs: 3, durationSeconds: 0.9 });
    await s.stop();
  });

  it("a hung host collector fails alone; the users' runs go on", async () => {
    let hang = false;
    const host: HostCollector<Facts> = {
      name: "host",
      scope: "host",
      description: "host",
      defaultEnabled: true,
      defaultIntervalSeconds: 15,
      collect: () => (hang ? never() : Promise.resolve({ n: 1 })),
    };
    const a = fake("a");
    const { s, fire } = scheduler({ host, a }, () => [user("eve", 2001)]);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    hang = true;
    fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(runOf(s, "a", "eve")).toMatchObject({ ok: true, runs: 2 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.collectorStates().find((c) => c.name === "host")).toMatchObject({
      ok: false,
      error: "run abandoned after the 1000 ms timeout",
      durationSeconds: 1,
    });
    await s.stop();
  });

  it("a user whose uid changes while a run hangs gets a fresh slot at once; the late result is dropped", async () => {
    const a = fake("a");
    let users = [user("eve", 2001)];
    const { s, fire } = scheduler({ a }, () => users);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    a.key = (ctx, again) =>
      ctx.target.uid === 2001 && !again ? after(3000, "k2") : Promise.resolve("k");
    fire();
    await vi.advanceTimersByTimeAsync(500);
    users = [user("eve", 2005)];
    fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(runOf(s, "a", "eve")).toMatchObject({ ok: true, runs: 1 });
    await vi.advanceTimersByTimeAsync(3000);
    expect(runOf(s, "a", "eve")).toMatchObject({ ok: true, runs: 1 });
    const { entries } = s as unknown as { entries: { slots: Map<string, unknown> }[] };
    expect([...(entries[0]?.slots.keys() ?? [])]).toEqual(["2005\0eve"]);
    await s.stop();
  });
});

describe("runrev: notes and info lines", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  const logged = (level: string): { log: Logger; lines: () => string[] } => {
    const out: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out.push(chunk.toString());
        done();
      },
    });
    return { log: pino({ level }, sink), lines: () => out.join("").split("\n").filter(Boolean) };
  };

  it("with debug lines: a note is logged once, not again on a reused or a full run", async () => {
    const a = fake("a");
    const base = a.work;
    a.work = (ctx) => {
      ctx.note("the thing is missing");
      ctx.info?.("measured", { seconds: 1 });
      return base(ctx);
    };
    const { log, lines } = logged("debug");
    const { s, fire } = scheduler({ a }, () => [user("eve", 2001)], log);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    fire(); // reused: the note said again, not logged anew
    await vi.advanceTimersByTimeAsync(0);
    a.key = () => Promise.resolve("k2");
    fire(); // a full run with the same note
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(100);
    const notes = lines().filter((l) => l.includes("expected condition"));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('"note":"the thing is missing"');
    expect(notes[0]).toContain('"user":"eve"');
    const infos = lines().filter((l) => l.includes('"msg":"measured"'));
    expect(infos).toHaveLength(2);
    expect(infos[0]).toContain('"collector":"a"');
    await s.stop();
  });

  it("at info: no note line, the info lines and failures all there", async () => {
    const a = fake("a", { keyed: false });
    let fail = false;
    a.work = (ctx) => {
      ctx.note("the thing is missing");
      ctx.info?.("measured", { seconds: 1 });
      return fail ? Promise.reject(new Error("broke")) : Promise.resolve({ n: 1 });
    };
    const { log, lines } = logged("info");
    const { s, fire } = scheduler({ a }, () => [user("eve", 2001)], log);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    fail = true;
    fire();
    await vi.advanceTimersByTimeAsync(100);
    expect(lines().filter((l) => l.includes("expected condition"))).toHaveLength(0);
    expect(lines().filter((l) => l.includes('"msg":"measured"'))).toHaveLength(2);
    expect(lines().filter((l) => l.includes('"msg":"collector failed"'))).toHaveLength(1);
    await s.stop();
  });
});
