import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chownSync,
  copyFileSync,
  lchownSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerCollector } from "../../src/collectors/docker/docker.js";
import { discovery, processes } from "../../src/collectors/scans.js";
import type { Target } from "../../src/host/target.js";
import { collectorContext } from "../helpers/context.js";
import { canRunHostile, hostileUser } from "../helpers/hostile-user.js";

// issue 16 review: what a watched user can make of discovery on a root exporter, as root against
// the real rlx-hostile (scripts/test-all.sh makes the user).
const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };

describe.skipIf(!canRunHostile)(
  "discovery against a hostile user (needs root and the user)",
  () => {
    const uid = hostileUser?.uid ?? -1;
    let dir: string;
    let vault: string;
    const started: ChildProcess[] = [];
    const targetAt = (runtimeDir: string): Target => ({
      name: hostileUser?.name ?? "rlx-hostile",
      uid,
      gid: hostileUser?.gid ?? uid,
      home: dir,
      groups: [hostileUser?.gid ?? uid],
      runtimeDir,
    });
    beforeAll(() => {
      dir = mkdtempSync("/tmp/rootless-exporter-hostile-discovery-");
      chownSync(dir, uid, uid);
      vault = mkdtempSync("/var/tmp/rootless-exporter-vault-");
      writeFileSync(join(vault, "secret-name"), "x", { mode: 0o600 });
    });
    afterAll(() => {
      for (const child of started) if (child.pid) process.kill(child.pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      rmSync(vault, { recursive: true, force: true });
    });

    it("a runtime dir swapped for a symlink into root's directory tells no name there from none", async () => {
      const plant = (name: string, to: string) => {
        const at = join(dir, name);
        symlinkSync(to, at);
        lchownSync(at, uid, uid);
        return at;
      };
      const seen = async (runtimeDir: string) => {
        const notes: string[] = [];
        const ctx = collectorContext(roots, targetAt(runtimeDir), {
          note: (n) => notes.push(n),
          self: false,
        });
        const facts = await dockerCollector.collect(ctx);
        return `${facts.apiError ?? ""} | ${notes.join(" / ")}`.replaceAll(runtimeDir, "RT");
      };
      const there = await seen(plant("rt-there", join(vault, "secret-name")));
      const absent = await seen(plant("rt-absent", join(vault, "no-such-name")));
      expect(there).not.toMatch(/ENOTDIR|ENOENT/);
      expect(there).toBe(absent);
    });

    it("3,000 processes named rootlesskit: discovery lets the event loop in", async () => {
      const kit = join(dir, "rootlesskit");
      copyFileSync("/bin/sleep", kit);
      chownSync(kit, uid, uid);
      for (let i = 0; i < 3000; i++) {
        started.push(spawn(kit, ["120"], { uid, gid: uid, stdio: "ignore", detached: true }));
        if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 500));
      const target = targetAt(join(dir, "no-runtime-dir"));
      const ctx = collectorContext(roots, target, { self: false });
      await processes(ctx.cycle, roots); // the table scan lets the loop in every 256 processes itself
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const found = await discovery(ctx);
      delay.disable();
      // One of the newest 64 is taken for the parent; none holds the loop for long.
      expect(found.parent).toBeDefined();
      expect(delay.max / 1e6).toBeLessThan(100);
    }, 120_000);
  },
);
