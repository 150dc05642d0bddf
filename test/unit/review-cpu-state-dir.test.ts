import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runtimeNames, stateNames } from "../../src/collectors/live-inputs.js";
import { usualStateDir } from "../../src/collectors/scans.js";
import type { NamesFound } from "../../src/host/user-files.js";
import { statUserNames } from "../../src/host/user-files.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

/*
 * A hostile review of wt/cpu's "usual state dir looked at within the runtime dir's walk"
 * (a0df36a, src/host/user-files.ts statUserNames `nested`). The watched user (uid 4242 here,
 * owning the runtime dir) attacks a root exporter: between the lstat that says
 * `dockerd-rootless` is a directory of theirs and the open of it, they swap it for a symlink to
 * root's directory, or plant a FIFO. Every test here passed on wt/cpu at a0df36a (the attacks
 * failed): kept as regression tests.
 */

const uid = 4242;
const missing = firstMissing([process.getuid?.() === 0, "needs root (chown to another uid)"]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every stat the nested look returned is the user's own: nothing of root's was looked into. */
function onlyTheUsers(found: NamesFound): boolean {
  // A refusal as someone else's, when the name is the user's symlink, means the link was followed.
  if (!found.ok) return found.state !== "foreign_owner";
  if (found.dir.uid !== uid) return false;
  for (const entry of found.entries.values()) if (entry.ok && entry.stats.uid !== uid) return false;
  return found.nested === undefined || onlyTheUsers(found.nested);
}

describe.skipIf(requireOnCi(missing))(
  withReason("review of wt/cpu: the state dir looked at in the runtime dir's walk", missing),
  () => {
    let base = "";
    let run = "";
    let state = "";
    let secret = "";
    const own = (path: string) => lchownSync(path, uid, uid);

    beforeAll(() => {
      base = mkdtempSync("/tmp/review-cpu-");
      chmodSync(base, 0o755); // root's, others may pass (as /run/user)
      run = join(base, "run");
      mkdirSync(run, { mode: 0o700 });
      own(run);
      state = join(run, "dockerd-rootless");
      mkdirSync(state, { mode: 0o700 });
      own(state);
      writeFileSync(join(state, "child_pid"), "101");
      own(join(state, "child_pid"));
      // Root's own directory, closed to others, with files of the same names.
      secret = join(base, "secret");
      mkdirSync(secret, { mode: 0o700 });
      for (const name of stateNames) writeFileSync(join(secret, name), "root's");
    });
    afterAll(() => rmSync(base, { recursive: true, force: true }));

    it("held: a state dir that is a symlink to root's directory is not looked into", async () => {
      const away = `${state}.away`;
      const link = join(run, "link");
      symlinkSync(secret, link);
      own(link);
      // The user moves the state dir away and puts the symlink in its place.
      const { renameSync } = await import("node:fs");
      renameSync(state, away);
      renameSync(link, state);
      try {
        const found = await statUserNames(run, uid, runtimeNames, undefined, usualStateDir);
        expect(found.ok).toBe(true);
        expect(found.ok && found.nested).toBe(undefined);
        expect(onlyTheUsers(found)).toBe(true);
        // The walk to it (what the caller falls back to) refuses it as a symlink.
        expect(await statUserNames(state, uid, stateNames)).toMatchObject({
          ok: false,
          state: "symlink",
        });
      } finally {
        rmSync(state);
        renameSync(away, state);
      }
    });

    it("held: a directory swapped for a symlink between the lstat and the open is refused", async () => {
      // A real process of the "user" swaps dockerd-rootless between their directory and a
      // symlink to root's directory as fast as it can (rename-replace, two renames a swap), for
      // a bounded time; the exporter's look runs meanwhile. A hole: a nested look that reports
      // root's directory or root's files.
      const away = `${state}.away`;
      const link = join(run, "swap-link");
      symlinkSync(secret, link);
      own(link);
      const script = `
      const fs = require("node:fs");
      const [state, away, link] = process.argv.slice(1);
      const end = Date.now() + 2500;
      let swaps = 0;
      while (Date.now() < end) {
        try {
          fs.renameSync(state, away); fs.renameSync(link, state);
          fs.renameSync(state, link); fs.renameSync(away, state);
          swaps++;
        } catch {}
      }
      process.stdout.write(String(swaps));
    `;
      const swapper: ChildProcess = spawn(process.execPath, ["-e", script, state, away, link], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      let out = "";
      swapper.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
      const exited = new Promise((resolve) => swapper.once("exit", resolve));
      const seen = { nested: 0, refused: 0, without: 0, leaks: 0 };
      try {
        await sleep(50);
        const end = Date.now() + 2000;
        while (Date.now() < end) {
          const found = await statUserNames(run, uid, runtimeNames, undefined, usualStateDir);
          if (!onlyTheUsers(found)) seen.leaks++;
          if (found.ok && found.nested?.ok) seen.nested++;
          else if (found.ok && found.nested) seen.refused++;
          else seen.without++;
        }
      } finally {
        await exited;
      }
      expect(Number(out)).toBeGreaterThan(0);
      expect(seen.nested).toBeGreaterThan(0);
      expect(seen.leaks).toBe(0);
    });

    it("held: a FIFO in the state dir is lstat'ed, never opened (a blocked writer stays blocked)", async () => {
      const fifo = join(state, "lock");
      const mk = spawn("mkfifo", [fifo]);
      await new Promise((resolve) => mk.once("exit", resolve));
      own(fifo);
      // A writer blocks in open(2) until a reader opens the FIFO.
      const writer = spawn(process.execPath, [
        "-e",
        `require("node:fs").openSync(${JSON.stringify(fifo)}, "w"); process.exit(7);`,
      ]);
      const exitedWith = new Promise<number | null>((resolve) => writer.once("exit", resolve));
      try {
        await sleep(100);
        const found = await statUserNames(run, uid, runtimeNames, undefined, usualStateDir);
        expect(found.ok && found.nested?.ok).toBe(true);
        const lock = found.ok && found.nested?.ok ? found.nested.entries.get("lock") : undefined;
        expect(lock?.ok && lock.stats.isFIFO()).toBe(true);
        const raced = await Promise.race([exitedWith, sleep(300).then(() => "still blocked")]);
        expect(raced).toBe("still blocked");
      } finally {
        writer.kill("SIGKILL");
        await exitedWith;
        rmSync(fifo, { force: true });
      }
    });

    // MINOR divergence, not a way in (src/host/user-files.ts statUserNames, the `nested` look):
    // the walk refuses a path of 65 components or more (user-walk.ts maxComponents, "too long to
    // walk") and of more than 4,096 bytes; the nested look opens the state dir relative to the
    // runtime dir's descriptor without that bound, so a runtime dir 64 components deep (a user's
    // XDG_RUNTIME_DIR in their home) has its state dir looked at where a walk to it refuses it:
    // inert today (discovery's own walk refuses that state dir, and rootlesskit's inputs give no
    // key for a refused one), but "the look a walk to it would make" does not hold there, and a
    // later user of the look could key or answer "missing" where the walk refuses. Nothing is
    // read, nothing followed. Fixed on main: statUserNames gives no nested look past the walk's
    // bounds (`walkable` from user-walk.ts, the test the walk itself makes).
    it("the nested look refuses a state dir past the walk's depth bound, as the walk does", async () => {
      // 62 directories of the user's under base (2 components: /tmp/review-cpu-X): the
      // runtime dir has 64 components, its state dir 65.
      let deep = join(base, "deep");
      mkdirSync(deep);
      own(deep);
      for (let i = 0; i < 61; i++) {
        deep = join(deep, "d");
        mkdirSync(deep);
        own(deep);
      }
      const deepState = join(deep, "dockerd-rootless");
      mkdirSync(deepState);
      own(deepState);
      expect(deep.split("/").filter(Boolean).length).toBe(64);
      const walked = await statUserNames(deepState, uid, stateNames);
      expect(walked).toMatchObject({ ok: false, state: "io_error" });
      const found = await statUserNames(deep, uid, runtimeNames, undefined, usualStateDir);
      expect(found.ok).toBe(true);
      expect(found.ok && found.nested?.ok).not.toBe(true);
    });

    it("held: a state dir of root's (chowned back) gets no nested look and the walk refuses it", async () => {
      chownSync(state, 0, 0);
      try {
        const found = await statUserNames(run, uid, runtimeNames, undefined, usualStateDir);
        expect(found.ok && found.nested).toBe(undefined);
        expect(await statUserNames(state, uid, stateNames)).toMatchObject({
          ok: false,
          state: "foreign_owner",
        });
      } finally {
        own(state);
      }
    });
  },
);
