import { chmodSync, lchownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statUserPath } from "../../src/host/user-files.js";
import { WalkMemo } from "../../src/host/walk-memo.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

/*
 * A hostile review of wt/cpu's "a name missing from the cycle's listing of its verified, closed
 * directory is answered without a walk" (9a54b80, walk-memo.ts missingNow). The listing is only
 * the walk's own answer where nobody but root can add a name. The watched user (uid 4242 here)
 * adds a name in a directory of root's they may write to (sticky like /tmp, or group-writable)
 * after the exporter's first look of the cycle: the next look in the same cycle must see it.
 * Passed on wt/cpu at e811c28 (the attack failed): kept as regression tests.
 */

const uid = 4242;
const missing = firstMissing([process.getuid?.() === 0, "needs root (chown to another uid)"]);
const own = () => process.geteuid?.() ?? 0;

describe.skipIf(requireOnCi(missing))(
  withReason("review of wt/cpu: missing by the cycle's listing", missing),
  () => {
    let base = "";
    beforeAll(() => {
      base = mkdtempSync("/tmp/review-memo-");
      chmodSync(base, 0o755);
    });
    afterAll(() => rmSync(base, { recursive: true, force: true }));

    for (const [what, mode] of [
      ["sticky and writable by all (as /tmp)", 0o1777],
      ["writable by its group", 0o775],
      ["writable by others, not sticky", 0o757],
    ] as const) {
      it(`held: a name the user adds mid-cycle in root's directory ${what} is found`, async () => {
        const dir = join(base, `d${mode.toString(8)}`);
        mkdirSync(dir);
        chmodSync(dir, mode);
        const memo = new WalkMemo();
        const target = join(dir, "rootlesskit123");
        // Two looks of the cycle while the name is not there (the second after any listing).
        for (let i = 0; i < 2; i++)
          expect(await statUserPath(target, uid, "directory", memo)).toMatchObject({
            ok: false,
            state: "missing",
          });
        // The user makes it (made by root and given to the user here: the same inode and owner).
        mkdirSync(target, { mode: 0o700 });
        lchownSync(target, uid, uid);
        expect(memo.missingNow(target, uid, own)).toBe(false);
        expect(await statUserPath(target, uid, "directory", memo)).toMatchObject({ ok: true });
      });
    }

    it("held: in root's closed directory the listing answers, and a new memo (cycle) sees the name", async () => {
      const dir = join(base, "closed");
      mkdirSync(dir, { mode: 0o755 });
      const memo = new WalkMemo();
      const target = join(dir, "user");
      for (let i = 0; i < 2; i++) await statUserPath(target, uid, "directory", memo);
      mkdirSync(target, { mode: 0o700 }); // only root can add it
      lchownSync(target, uid, uid);
      // Missing for the rest of this cycle (the walk's own answer when it listed), found next.
      expect(await statUserPath(target, uid, "directory", memo)).toMatchObject({ ok: false });
      expect(await statUserPath(target, uid, "directory", new WalkMemo())).toMatchObject({
        ok: true,
      });
    });
  },
);
