import { chownSync, lchownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { busPing, DbusClient } from "../../src/host/dbus.js";
import { canRunHostile, hostileUser } from "../helpers/hostile-user.js";

// A root exporter on another user's bus: the user's runtime dir, checked as the user's when
// targets are resolved, swapped for a symlink into root's 0700 /root. Root's lstat of RUNTIME/bus
// followed it: ENOTDIR (a root-only file is there) or ENOENT (nothing is) reached the error.
describe.skipIf(!canRunHostile)(
  "another user's bus path swapped into a root-only directory",
  () => {
    const uid = hostileUser?.uid ?? -1;
    const gid = hostileUser?.gid ?? -1;
    const base = mkdtempSync("/tmp/rootless-exporter-bus-oracle-");
    const secret = mkdtempSync("/root/rootless-exporter-bus-oracle-");
    afterAll(() => {
      rmSync(base, { recursive: true, force: true });
      rmSync(secret, { recursive: true, force: true });
    });

    /** The user's runtime dir, a symlink of theirs to `target`. */
    function plant(name: string, target: string): string {
      const runtime = join(base, name);
      symlinkSync(target, runtime);
      lchownSync(runtime, uid, gid);
      return runtime;
    }

    async function outcome(runtime: string): Promise<string> {
      const client = new DbusClient(`unix:path=${runtime}/bus`, { uid, gid, groups: [gid] });
      try {
        await client.call(busPing, 1000);
        return "connected";
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      } finally {
        client.close();
      }
    }

    it("tells the same whatever root's directory holds", async () => {
      chownSync(base, uid, gid);
      writeFileSync(join(secret, "secret-name"), "x", { mode: 0o600 });
      const there = await outcome(plant("there", join(secret, "secret-name")));
      const absent = await outcome(plant("absent", join(secret, "no-such-name")));
      console.log({ there, absent });
      // Before: "ENOTDIR: not a directory, lstat ..." against "ENOENT: no such file ..., lstat".
      expect(there).toEqual(absent.replaceAll("/absent/", "/there/"));
      expect(there).toBe(`unix:path=${base}/there/bus: cannot connect as uid ${uid} (EACCES)`);
    });
  },
);
