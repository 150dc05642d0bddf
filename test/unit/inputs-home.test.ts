import { chmodSync, lchownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { UserContext } from "../../src/collectors/collector.js";
import { keyPart, missingInHome } from "../../src/collectors/inputs.js";
import { Cycle } from "../../src/collectors/state.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// inputs.ts: a path is missing by the cycle's one look at the user's home when the home is
// missing or the path's first name under it is one the look found missing; compared in place,
// so a name that only starts like a missing one, or a path beside the home, is never taken.
const missing = firstMissing([process.getuid?.() === 0, "needs root (a home of another uid)"]);
const uid = 61_950;

describe.skipIf(requireOnCi(missing))(withReason("missingInHome (needs root)", missing), () => {
  const rootfs = mkdtempSync(join(tmpdir(), "inputs-home-"));
  chmodSync(rootfs, 0o755);
  mkdirSync(join(rootfs, "home"), { mode: 0o755 });
  const home = "/home/u";
  mkdirSync(join(rootfs, home), { mode: 0o755 });
  mkdirSync(join(rootfs, home, ".config"), { mode: 0o755 });
  lchownSync(join(rootfs, home), uid, uid);
  lchownSync(join(rootfs, home, ".config"), uid, uid);
  afterAll(() => rmSync(rootfs, { recursive: true, force: true }));

  const ctx = (homeDir: string): UserContext =>
    ({
      cycle: new Cycle(() => true),
      roots: { rootfs, procfs: "/proc", sysfs: "/sys" },
      target: { name: "u", uid, gid: uid, groups: [], home: homeDir, runtimeDir: "/run/user/1" },
      self: false,
    }) as unknown as UserContext;

  it.each([
    [`${home}/.local/share/docker`, true],
    [`${home}/.docker/config.json`, true],
    [`${home}/.docker`, true],
    [`${home}/.config/docker/daemon.json`, false],
    [`${home}/.config`, false],
    [`${home}/.dockerx/config.json`, false],
    [`${home}/.localx`, false],
    [`${home}x/.local/share`, false],
    [`/elsewhere/.local/share`, false],
    [`${home}`, false],
  ])("home there: %s missing by the look: %s", async (path, expected) => {
    const c = ctx(home);
    expect(await missingInHome(c, path)).toBe(expected);
    // Asked again in the cycle: the same answer, now without a promise.
    expect(missingInHome(c, path)).toBe(expected);
  });

  it.each([
    ["/home/gone/.config/docker/daemon.json", true],
    ["/home/gone/.docker", true],
    ["/home/gonex/.docker", false],
  ])("home missing: %s missing by the look: %s", async (path, expected) => {
    expect(await missingInHome(ctx("/home/gone"), path)).toBe(expected);
  });
});

describe("keyPart", () => {
  const key = (parts: string[]): string => parts.map(keyPart).join("");
  it.each([
    [
      ["a", "bc"],
      ["ab", "c"],
    ],
    [["1:a"], ["", "a"]],
    [["", ""], ["0:"]],
    [
      ["a:1", "b"],
      ["a", "1:b"],
    ],
    [["x".repeat(10)], ["x".repeat(9), "x"]],
  ])("%j and %j give different keys", (a, b) => {
    expect(key(a)).not.toBe(key(b));
    expect(key(a)).toBe(key([...a]));
  });
});
