import { chmodSync, lchownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { UserCollector, UserContext } from "../../src/collectors/collector.js";
import { idleKey, idleWith } from "../../src/collectors/inputs.js";
import { runtimeDir } from "../../src/collectors/scans.js";
import { Cycle, TargetState } from "../../src/collectors/state.js";
import type { Target } from "../../src/host/target.js";
import { collectOrReuse } from "../../src/exporter/schedule/reuse.js";
import type { ReuseSlot } from "../../src/exporter/schedule/reuse.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";
import { fake, runOf, scheduler } from "../helpers/runrev.js";
import { pino } from "pino";

// Review of the run path (helper "runrev"): the keys a watched user's files and ids make (idle
// key, idleWith's joined pieces, the reuse digest) must tell two different inputs apart, and
// taking them must cost no more time than on main. The same file runs on main (a314b87) and on
// wt/runpath: only functions exported by both are used.
const missing = firstMissing([process.getuid?.() === 0, "needs root (a tree of another uid)"]);
const uid = 61_960;

describe.skipIf(requireOnCi(missing))(withReason("runrev: idle keys (needs root)", missing), () => {
  // A host where the user has no process (a uid nobody runs as), no runtime dir, no
  // /tmp/rootlesskit dir: idle, so idleKey and idleWith give keys.
  const rootfs = mkdtempSync(join(tmpdir(), "runrev-keys-"));
  chmodSync(rootfs, 0o755);
  for (const dir of ["home", "run", "run/user", "tmp"])
    mkdirSync(join(rootfs, dir), { mode: 0o755 });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  mkdirSync(join(rootfs, "home", "u"), { mode: 0o755 });
  lchownSync(join(rootfs, "home", "u"), uid, uid);
  mkdirSync(join(rootfs, "run", "user", String(uid + 1)), { mode: 0o700 });
  lchownSync(join(rootfs, "run", "user", String(uid + 1)), uid, uid);
  afterAll(() => rmSync(rootfs, { recursive: true, force: true }));
  const roots = { rootfs, procfs: "/proc", sysfs: "/sys" };
  const target: Target = {
    name: "u",
    uid,
    gid: uid,
    groups: [uid],
    home: "/home/u",
    runtimeDir: `/run/user/${uid}`,
  };
  const ctx = (t: Target = target, cycle = new Cycle(() => true)): UserContext =>
    ({
      cycle,
      roots,
      target: t,
      self: false,
      state: new TargetState(undefined),
      note: () => undefined,
    }) as unknown as UserContext;
  const later = <T>(ms: number, value: T): Promise<T> =>
    new Promise((resolve) => setTimeout(() => resolve(value), ms));

  it("the fixture user is idle", async () => {
    expect(await idleKey(ctx())).toEqual(expect.any(String));
  });

  it("idleWith's pieces are taken at once: three slow pieces cost one piece's time", async () => {
    // Each piece is a path walked under a slow home (NFS under load, a user's FUSE mount with
    // allow_other): on main they are asked together, so a key costs the slowest piece.
    const c = ctx();
    await idleKey(c); // the cycle's idle answer in, so only the pieces are timed
    const started = performance.now();
    const key = await idleWith(
      c,
      () => later(300, "missing /home/u/.config/docker/daemon.json"),
      () => later(300, "missing /home/u/.local/share/docker"),
      () => later(300, "mount 1 2"),
    );
    const took = performance.now() - started;
    expect(key).toEqual(expect.any(String));
    expect(took).toBeLessThan(550);
  });

  it("an idle user's key of three slow pieces, before and after its run, fits its timeout", async () => {
    // The same through the scheduler: a collector keyed like docker's and client's (idleWith and
    // three pieces), each piece 300 ms (a slow home), a 1 s run timeout. Main: 300 ms before the
    // collection and 300 ms after it. Taken one after the other: 900 + 900 ms, abandoned.
    const slowKeyed = fake("slowKeyed");
    slowKeyed.key = (c) =>
      idleWith(
        c,
        () => later(300, "a"),
        () => later(300, "b"),
        () => later(300, "c"),
      );
    const { s } = scheduler({ slowKeyed }, () => [target], pino({ level: "silent" }), roots);
    await s.runAll();
    expect(runOf(s, "slowKeyed", "u")).toMatchObject({ ok: true });
    await s.stop();
  });

  it("idleWith keys of different pieces differ, whatever the pieces hold", async () => {
    const c = ctx();
    const key = (parts: string[]): Promise<string | undefined> =>
      idleWith(c, ...parts.map((p) => () => Promise.resolve(p)));
    // Every list of up to three parts over a small alphabet of separators and digits: no two
    // lists give one key.
    const alphabet = ["", "1", ":", "0:", "1:a", "a", '"', ",", "]["];
    const lists: string[][] = [];
    for (const a of alphabet) {
      lists.push([a]);
      for (const b of alphabet) {
        lists.push([a, b]);
        for (const d of alphabet) lists.push([a, b, d]);
      }
    }
    const seen = new Map<string, string>();
    for (const list of lists) {
      const k = await key(list);
      expect(k).toEqual(expect.any(String));
      const before = seen.get(k as string);
      if (before !== undefined) expect(JSON.stringify(list)).toBe(before);
      seen.set(k as string, JSON.stringify(list));
    }
    expect(seen.size).toBe(lists.length);
  });

  it("the idle key names the ids, groups, home and runtime dir: each change is a new key", async () => {
    const key = (t: Target): Promise<string | undefined> => idleKey(ctx(t));
    const base = await key(target);
    const changed: Target[] = [
      { ...target, gid: uid + 1 },
      { ...target, groups: [uid, 1] },
      { ...target, groups: [] },
      { ...target, home: "/home/u/" },
      { ...target, runtimeDir: `/run/user/${uid}/` },
    ];
    const keys = await Promise.all(changed.map(key));
    for (const k of keys) expect(k).not.toBe(base);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("keys whose parts differ only in a lone surrogate are different strings", async () => {
    // Their digests are not: Node hashes a string as UTF-8, where a lone surrogate becomes
    // U+FFFD (JSON escaped it, a length-prefixed part does not). No file name, file text or
    // passwd field Node decodes holds one, so no user can make one (keyPart says so).
    const c = ctx();
    const one = await idleWith(c, () => Promise.resolve("\ud800"));
    const two = await idleWith(c, () => Promise.resolve("\ufffd"));
    expect(one).not.toBe(two);
  });

  it("a user's runtime dir moved within a cycle (a new target object) is looked at anew", async () => {
    // The roster replaces a user's target when their runtime dir or home moves: the cycle's
    // answers for the old target are not the new one's (main kept them by uid alone).
    const cycle = new Cycle(() => true);
    const before = await runtimeDir(cycle, roots, target);
    expect(before).toMatchObject({ ok: false, state: "missing" });
    const moved: Target = { ...target, runtimeDir: `/run/user/${uid + 1}` };
    expect(await runtimeDir(cycle, roots, moved)).toMatchObject({ ok: true });
  });
});

describe("runrev: the reuse digest", () => {
  interface Facts {
    readonly n: number;
  }
  const slotWith = (): ReuseSlot<Facts> & { state: { facts: Facts | undefined; ok: boolean } } =>
    ({
      reuseKey: undefined,
      reuseAt: 0,
      reused: 0,
      notes: new Set<string>(),
      state: { facts: undefined, ok: true },
    }) as never;
  const collectorKeyed = (key: () => string): UserCollector<Facts> & { collects: number } => {
    const c = {
      name: "k",
      scope: "user" as const,
      description: "k",
      defaultEnabled: true,
      defaultIntervalSeconds: 15,
      collects: 0,
      inputs: () => Promise.resolve(key()),
      collect: () => Promise.resolve({ n: ++c.collects }),
    };
    return c;
  };
  const ctx = { note: () => undefined } as unknown as UserContext;

  it("equal keys serve the same facts object; keys differing anywhere bring a full run", async () => {
    let key = "a".repeat(200);
    const c = collectorKeyed(() => key);
    const slot = slotWith();
    const run = async (): Promise<Facts> => {
      const facts = await collectOrReuse(c, ctx, slot, 60_000);
      slot.state = { facts, ok: true } as never;
      return facts;
    };
    const first = await run();
    expect(await run()).toBe(first);
    expect(c.collects).toBe(1);
    // One character changed at each end, a latin1 and a non-latin1 one, and one more character:
    // each a full run (a digest kept as latin1 characters must still tell them apart).
    for (const next of [
      `b${"a".repeat(199)}`,
      `${"a".repeat(199)}b`,
      `${"a".repeat(199)}\u00e9`,
      `${"a".repeat(199)}\u0101`,
      "a".repeat(201),
    ]) {
      const runs = c.collects;
      key = next;
      await run();
      expect(c.collects).toBe(runs + 1);
      expect(await run()).toBe(slot.state.facts);
      expect(c.collects).toBe(runs + 1);
    }
  });
});
