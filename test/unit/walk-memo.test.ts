import {
  chmodSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readUserFile, statUserPath } from "../../src/host/user-files.js";
import { WalkMemo } from "../../src/host/walk-memo.js";
import { testUser } from "../helpers/rootless-docker.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// The per-cycle memo of root's directories (host/walk-memo.ts) must change no answer of the walk:
// the same result with or without it, a user's component swapped between two walks of one cycle
// still caught, root's directory replaced mid-cycle walked afresh. Needs root and rlx-hostile.
const userName = process.env["ROOTLESS_HOSTILE_USER"] ?? "rlx-hostile";
const isRoot = process.getuid?.() === 0;
const user = (() => {
  try {
    return testUser(userName);
  } catch {
    return undefined;
  }
})();
const missing = firstMissing(
  [isRoot, "needs root"],
  [user !== undefined, `no user ${userName} (scripts/test-all.sh makes it)`],
);
const secret = "TOPSECRET-9d2a71";

describe.skipIf(requireOnCi(missing))(
  withReason(`the walk memo on a tree owned by ${userName} (needs root and the user)`, missing),
  () => {
    const uid = user?.uid ?? -1;
    const mine = (path: string) => lchownSync(path, uid, user?.gid ?? uid);
    let base: string;
    // base/homes (root 0755) / user (the user's) / ...: /home's shape.
    const home = () => join(base, "homes/user");

    beforeAll(() => {
      base = mkdtempSync(join(tmpdir(), "rootless-exporter-walkmemo-"));
      chmodSync(base, 0o755);
      mkdirSync(join(base, "homes"), { mode: 0o755 });
      mkdirSync(home(), { mode: 0o700 });
      mine(home());
      mkdirSync(join(home(), "sub"));
      mine(join(home(), "sub"));
      writeFileSync(join(home(), "sub/child_pid"), "77");
      mine(join(home(), "sub/child_pid"));
      writeFileSync(join(home(), "docker.pid"), "1234\n");
      mine(join(home(), "docker.pid"));
      mkdirSync(join(base, "vault"), { mode: 0o700 });
      writeFileSync(join(base, "vault/secret"), secret, { mode: 0o600 });
      symlinkSync(join(base, "vault"), join(home(), "dirlink"));
      lchownSync(join(home(), "dirlink"), uid, user?.gid ?? uid);
      // A root-owned directory only root may add to, and a sticky one anyone may add to.
      mkdirSync(join(base, "runs"), { mode: 0o755 });
      mkdirSync(join(base, "sticky"), { mode: 0o755 });
      chmodSync(join(base, "sticky"), 0o1777);
      // A symlink root made in its own directory: followed.
      symlinkSync(home(), join(base, "homes/alias"));
    });
    afterAll(() => rmSync(base, { recursive: true, force: true }));

    const cases = [
      "homes/user/docker.pid",
      "homes/user/sub/child_pid",
      "homes/user/sub",
      "homes/user/dirlink/secret",
      "homes/user/nothing",
      "homes/user/docker.pid/x",
      "homes/alias/docker.pid",
      "vault/secret",
      "vault/no-such-file",
      "runs/1000/docker.pid",
      "runs/1000",
      "nothing/at/all",
    ];

    it("answers every path as the walk without a memo does, first and second time", async () => {
      const memo = new WalkMemo();
      const strip = (r: Awaited<ReturnType<typeof readUserFile>>) =>
        r.ok ? { ok: true as const, text: r.text } : r;
      for (const rel of cases) {
        const plain = strip(await readUserFile(join(base, rel), uid, 64));
        expect(strip(await readUserFile(join(base, rel), uid, 64, memo)), rel).toEqual(plain);
        expect(strip(await readUserFile(join(base, rel), uid, 64, memo)), rel).toEqual(plain);
        if (!plain.ok) expect(plain.detail).not.toContain(secret);
      }
      // root's directories on the way are kept; the user's never are, nor one the user may not pass.
      expect(memo.dir(join(base, "homes"))).toMatchObject({ openToOthers: true, closed: true });
      expect(memo.dir(home())).toBeUndefined();
      expect(memo.dir(join(base, "vault"))).toBeUndefined();
    });

    it("opens nothing behind root's closed directory with a memo either: no absence told apart", async () => {
      const memo = new WalkMemo();
      const inVault = await readUserFile(join(base, "vault/secret"), uid, 64, memo);
      const absent = await readUserFile(join(base, "vault/no-such-file"), uid, 64, memo);
      expect(inVault).toMatchObject({ ok: false, state: "foreign_owner" });
      expect(absent).toEqual(inVault);
    });

    it("catches a user's directory swapped for a symlink between two walks of one cycle", async () => {
      const memo = new WalkMemo();
      const path = join(home(), "sub/child_pid");
      expect(await readUserFile(path, uid, 64, memo)).toMatchObject({ ok: true, text: "77" });
      renameSync(join(home(), "sub"), join(home(), "sub-real"));
      symlinkSync(join(base, "vault"), join(home(), "sub"));
      lchownSync(join(home(), "sub"), uid, user?.gid ?? uid);
      try {
        expect(await readUserFile(path, uid, 64, memo)).toMatchObject({
          ok: false,
          state: "symlink",
        });
      } finally {
        rmSync(join(home(), "sub"));
        renameSync(join(home(), "sub-real"), join(home(), "sub"));
      }
    });

    it("walks afresh when root replaced a verified directory within the cycle", async () => {
      const memo = new WalkMemo();
      const path = join(base, "homes/user/docker.pid");
      expect(await readUserFile(path, uid, 64, memo)).toMatchObject({ ok: true });
      renameSync(join(base, "homes"), join(base, "homes-old"));
      mkdirSync(join(base, "homes"), { mode: 0o700 });
      try {
        // Now root's 0700 directory: refused as on a walk without a memo.
        const now = await readUserFile(path, uid, 64, memo);
        expect(now).toEqual(await readUserFile(path, uid, 64));
        expect(now).toMatchObject({ ok: false, state: "foreign_owner" });
      } finally {
        rmSync(join(base, "homes"), { recursive: true });
        renameSync(join(base, "homes-old"), join(base, "homes"));
      }
    });

    it("keeps a name missing only where root alone may add one (not in a sticky directory)", async () => {
      const memo = new WalkMemo();
      const inRuns = join(base, "runs/2000");
      const inSticky = join(base, "sticky/2000");
      expect(await statUserPath(inRuns, uid, "directory", memo)).toMatchObject({
        state: "missing",
      });
      expect(await statUserPath(inSticky, uid, "directory", memo)).toMatchObject({
        state: "missing",
      });
      expect(memo.isMissing(inRuns)).toBe(true);
      expect(memo.isMissing(inSticky)).toBe(false);
      // The user makes a directory in the sticky one: found within the same cycle.
      mkdirSync(inSticky);
      mine(inSticky);
      expect(await statUserPath(inSticky, uid, "directory", memo)).toMatchObject({ ok: true });
      // Paths below a missing name in root's directory: missing, named as the walk names them.
      expect(await readUserFile(join(inRuns, "docker.pid"), uid, 64, memo)).toEqual(
        await readUserFile(join(inRuns, "docker.pid"), uid, 64),
      );
    });

    // issue 19: a closed directory of root's is listed once a cycle; a name not in the listing is
    // missing without a lookup, with the walk's own answer; a name in it is walked as before.
    it("lists a closed directory once: names not in it missing, as the walk says", async () => {
      const memo = new WalkMemo();
      const runs = join(base, "runs");
      mkdirSync(join(runs, "3001"), { mode: 0o700 });
      mine(join(runs, "3001"));
      const there = join(runs, "3001");
      // The first walk verifies the directories, the second lists runs/ through its handle.
      expect(await statUserPath(there, uid, "directory", memo)).toMatchObject({ ok: true });
      expect(await statUserPath(there, uid, "directory", memo)).toMatchObject({ ok: true });
      expect(await memo.listed(runs)).toEqual(new Set(["3001"]));
      for (const name of ["3002", "3003/docker.pid"])
        expect(await statUserPath(join(runs, name), uid, "file", memo)).toEqual(
          await statUserPath(join(runs, name), uid, "file"),
        );
      expect(memo.isMissing(join(runs, "3002"))).toBe(true);
      expect(await readUserFile(join(there, "nope"), uid, 64, memo)).toMatchObject({
        state: "missing",
      });
      rmSync(there, { recursive: true });
    });

    // issue 19: once listed, a name not in the listing is answered without the walk, as it says.
    it("answers a name missing from the listing without a walk, as the walk does", async () => {
      const memo = new WalkMemo();
      const runs = join(base, "runs");
      mkdirSync(join(runs, "3101"), { mode: 0o700 });
      mine(join(runs, "3101"));
      const own = () => process.geteuid?.() ?? 0;
      try {
        for (let i = 0; i < 2; i++) await statUserPath(join(runs, "3101"), uid, "directory", memo);
        expect(memo.missingNow(join(runs, "3102"), uid, own)).toBe(true);
        expect(memo.missingNow(join(runs, "3101"), uid, own)).toBe(false);
        // Not a plain path, or in a directory not listed (the user's own): the walk answers.
        for (const odd of [`${runs}//3103`, `${runs}/./3103`, `${runs}/3101/x`, `${runs}/..`])
          expect(memo.missingNow(odd, uid, own), odd).toBe(false);
        for (const rel of ["3104", "3101", "3101/docker.pid", "/./3105", "//3106"])
          expect(await statUserPath(`${runs}/${rel}`, uid, "directory", memo), rel).toEqual(
            await statUserPath(`${runs}/${rel}`, uid, "directory"),
          );
        // A name made after the listing: missing for the rest of the cycle (root's to add, and
        // the walk said the same), found by the next cycle's memo.
        mkdirSync(join(runs, "3107"), { mode: 0o700 });
        mine(join(runs, "3107"));
        expect(memo.missingNow(join(runs, "3107"), uid, own)).toBe(true);
        expect(
          await statUserPath(join(runs, "3107"), uid, "directory", new WalkMemo()),
        ).toMatchObject({ ok: true });
      } finally {
        for (const name of ["3101", "3107"]) rmSync(join(runs, name), { recursive: true });
      }
    });
  },
);
