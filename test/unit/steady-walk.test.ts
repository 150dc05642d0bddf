import {
  chmodSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as FsPromises from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

/*
 * The helper "steady" (docs/performance.md, "The steady cycle, third pass"): the walks of one
 * cycle wait for another walk's look at a directory of their own way (walk-memo.ts claim and
 * resume), and the state dir's name is opened instead of lstat'ed (user-files.ts statUserNames).
 * Each test fails if the check it names is dropped. Needs root (trees chowned to made-up uids).
 */

/** The opens of node:fs/promises, counted, and held while `gate` says so (a hung FUSE look). */
const calls = vi.hoisted(() => ({
  opens: [] as string[],
  hold: undefined as ((path: string) => Promise<void> | undefined) | undefined,
}));
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const path = String(args[0]);
      calls.opens.push(path);
      const wait = calls.hold?.(path);
      if (wait) await wait;
      return real.open(...args);
    },
  };
});

const { statUserNames, statUserPath } = await import("../../src/host/user-files.js");
const { WalkMemo } = await import("../../src/host/walk-memo.js");

const isRoot = process.getuid?.() === 0;
const userA = 4711;
const userB = 4712;
const never = Symbol("still waiting");
const within = <T>(promise: Promise<T>, ms: number): Promise<T | typeof never> =>
  Promise.race([promise, new Promise<typeof never>((r) => setTimeout(() => r(never), ms))]);

describe.skipIf(!isRoot)("steady: shared first walks and the state dir's one look (root)", () => {
  let base: string;
  const runUser = () => join(base, "run/user");
  const runtime = (uid: number) => join(runUser(), String(uid));

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "rootless-exporter-steady-"));
    chmodSync(base, 0o755);
    mkdirSync(runUser(), { recursive: true, mode: 0o755 });
    for (const uid of [userA, userB]) {
      mkdirSync(runtime(uid), { mode: 0o700 });
      lchownSync(runtime(uid), uid, uid);
      mkdirSync(join(runtime(uid), "dockerd-rootless"), { mode: 0o700 });
      lchownSync(join(runtime(uid), "dockerd-rootless"), uid, uid);
    }
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const opensOf = (name: string): number =>
    calls.opens.filter((path) => path.endsWith(`/${name}`)).length;

  it("walks root's way once for walks that start together, and answers each as alone", async () => {
    const memo = new WalkMemo();
    calls.opens.length = 0;
    const [a, b] = await Promise.all([
      statUserPath(runtime(userA), userA, "directory", memo),
      statUserPath(runtime(userB), userB, "directory", memo),
    ]);
    expect(a.ok && a.stats.uid).toBe(userA);
    expect(b.ok && b.stats.uid).toBe(userB);
    // `run` is opened by one walk; the other waited for its look (two walks, one open).
    expect(opensOf("run")).toBe(1);
    // Alone, without a memo: the same answers.
    expect((await statUserPath(runtime(userA), userA, "directory")).ok).toBe(true);
    expect(await statUserPath(runtime(userB), userA, "directory")).toMatchObject({
      ok: false,
      state: "foreign_owner",
    });
  });

  it("never waits on another walk's look at a user's directory, only at one of its own way", async () => {
    // User A's walk into A's runtime dir hangs at A's directory (a FUSE mount that does not
    // answer); user B's walk, which starts while it hangs, passes root's directories A's walk
    // verified and goes on. A walk of A's own way waits for that look, and only for it.
    const memo = new WalkMemo();
    let release = (): void => undefined;
    let letRunOpen = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const runGate = new Promise<void>((r) => (letRunOpen = r));
    let runHeld = false;
    calls.hold = (path) => {
      if (path.endsWith(`/${userA}`)) return gate;
      // A's look at root's `run` is slow too, once: B starts meanwhile and waits for that look.
      if (path.endsWith("/run") && !runHeld) return ((runHeld = true), runGate);
      return undefined;
    };
    try {
      const hung = statUserPath(join(runtime(userA), "dockerd-rootless"), userA, "directory", memo);
      await new Promise((r) => setTimeout(r, 20));
      calls.opens.length = 0;
      const pending = statUserPath(runtime(userB), userB, "directory", memo);
      await new Promise((r) => setTimeout(r, 20));
      letRunOpen();
      const other = await within(pending, 2000);
      expect(other).not.toBe(never);
      expect(other !== never && other.ok).toBe(true);
      // B waited for A's look at `run` rather than opening it itself.
      expect(opensOf("run")).toBe(0);
      const same = statUserPath(join(runtime(userA), "dockerd-rootless"), userA, "directory", memo);
      expect(await within(same, 100)).toBe(never);
      release();
      expect((await hung).ok).toBe(true);
      expect((await same).ok).toBe(true);
    } finally {
      calls.hold = undefined;
      letRunOpen();
      release();
    }
  });

  it("lets the walks that wait go on when the walk they wait for stops (a missing directory)", async () => {
    const memo = new WalkMemo();
    const gone = join(runUser(), "4799");
    const both = await within(
      Promise.all([
        statUserPath(join(gone, "a"), userA, "file", memo),
        statUserPath(join(gone, "b"), userA, "file", memo),
      ]),
      2000,
    );
    expect(both).not.toBe(never);
    expect(both).toMatchObject([
      { ok: false, state: "missing" },
      { ok: false, state: "missing" },
    ]);
  });

  it("answers a path under a missing directory from the memo alone, as the walk does, and only where the user may pass", async () => {
    const memo = new WalkMemo();
    const own = () => process.geteuid?.() ?? 0;
    const home = join(base, "home", "someone");
    // The first walk finds `home` missing in root's closed directory; the next one is answered
    // from the memo, with the walk's own answer (the same detail: the directory that is missing).
    const first = await statUserPath(home, userA, "directory", memo);
    expect(first).toMatchObject({ ok: false, state: "missing" });
    expect(memo.missingAt(join(base, "home", "other"), userB, own)).toBe(join(base, "home"));
    expect(await statUserPath(join(base, "home", "other"), userB, "directory", memo)).toEqual(
      await statUserPath(join(base, "home", "other"), userB, "directory"),
    );
    // Behind root's 0700 directory: the exporter's own walk marks a name missing there, and a
    // user's walk is still refused at the closed directory, not told the name is missing.
    const vault = join(base, "vault");
    mkdirSync(vault, { mode: 0o700 });
    const behind = join(vault, "x", "y");
    expect(await statUserPath(behind, own(), "file", memo)).toMatchObject({ state: "missing" });
    expect(memo.missingAt(behind, own(), own)).toBe(join(vault, "x"));
    expect(memo.missingAt(behind, userA, own)).toBe(undefined);
    expect(memo.missingAt(join(vault, "x"), userA, own)).toBe(undefined);
    expect(await statUserPath(join(vault, "x"), userA, "file", memo)).toEqual(
      await statUserPath(join(vault, "x"), userA, "file"),
    );
    const refused = await statUserPath(behind, userA, "file", memo);
    expect(refused).toEqual(await statUserPath(behind, userA, "file"));
    expect(refused).toMatchObject({ ok: false, state: "foreign_owner" });
  });

  describe("the state dir's name, opened instead of lstat'ed", () => {
    const names = ["docker.pid", "dockerd-rootless", "docker.sock", "bus"] as const;
    const nested = { name: "dockerd-rootless", names: ["child_pid", "lock"] } as const;
    const state = () => join(runtime(userA), "dockerd-rootless");

    /** Replaces the state dir's name with what `make` puts there, then puts the directory back. */
    async function withStateAs<T>(make: (path: string) => void, look: () => Promise<T>) {
      const away = `${state()}.away`;
      execFileSync("mv", [state(), away]);
      try {
        make(state());
        lchownSync(state(), userA, userA);
        return await look();
      } finally {
        rmSync(state(), { recursive: true, force: true });
        execFileSync("mv", [away, state()]);
      }
    }

    it("gives the name's own lstat for every kind, and a look inside only a directory of the user's", async () => {
      writeFileSync(join(state(), "child_pid"), "42");
      lchownSync(join(state(), "child_pid"), userA, userA);
      const found = await statUserNames(runtime(userA), userA, names, undefined, nested);
      const real = lstatSync(state());
      const entry = found.ok ? found.entries.get("dockerd-rootless") : undefined;
      expect(entry?.ok && [entry.stats.ino, entry.stats.mode, entry.stats.uid]).toEqual([
        real.ino,
        real.mode,
        real.uid,
      ]);
      expect(found.ok && found.nested?.ok && found.nested.entries.get("child_pid")?.ok).toBe(true);

      // A symlink (to a directory of the user's): the link's own stats, nothing looked into.
      const link = await withStateAs(
        (path) => symlinkSync(join(runtime(userB), "dockerd-rootless"), path),
        () => statUserNames(runtime(userA), userA, names, undefined, nested),
      );
      const linked = link.ok ? link.entries.get("dockerd-rootless") : undefined;
      expect(linked?.ok && linked.stats.isSymbolicLink()).toBe(true);
      expect(link.ok && link.nested).toBe(undefined);

      // A FIFO: its lstat, never opened for reading (the look returns at once).
      const fifo = await withStateAs(
        (path) => execFileSync("mkfifo", [path]),
        () => within(statUserNames(runtime(userA), userA, names, undefined, nested), 2000),
      );
      expect(fifo).not.toBe(never);
      const piped = fifo !== never && fifo.ok ? fifo.entries.get("dockerd-rootless") : undefined;
      expect(piped?.ok && piped.stats.isFIFO()).toBe(true);
      expect(fifo !== never && fifo.ok && fifo.nested).toBe(undefined);

      // Someone else's directory: its stats, nothing looked into.
      const foreign = await withStateAs(
        (path) => {
          mkdirSync(path, { mode: 0o755 });
          writeFileSync(join(path, "child_pid"), "1");
        },
        async () => {
          lchownSync(state(), userB, userB);
          return statUserNames(runtime(userA), userA, names, undefined, nested);
        },
      );
      const theirs = foreign.ok ? foreign.entries.get("dockerd-rootless") : undefined;
      expect(theirs?.ok && theirs.stats.uid).toBe(userB);
      expect(foreign.ok && foreign.nested).toBe(undefined);

      // Missing: missing, as an lstat says.
      execFileSync("mv", [state(), `${state()}.away`]);
      try {
        const none = await statUserNames(runtime(userA), userA, names, undefined, nested);
        expect(none.ok && none.entries.get("dockerd-rootless")).toEqual({
          ok: false,
          state: "missing",
        });
        expect(none.ok && none.nested).toBe(undefined);
      } finally {
        execFileSync("mv", [`${state()}.away`, state()]);
      }
    });
  });
});
