import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  linkSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserFileKind, UserFileState } from "../../src/host/user-walk.js";
import { readUserFile, statUserNames, statUserPath } from "../../src/host/user-files.js";
import { testUser } from "../helpers/rootless-docker.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// A tree the watched user controls, planted with what a hostile user can make. Files are chowned
// to a real unprivileged user (rlx-hostile, made by scripts/test-all.sh), so this needs root.
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
const secret = "TOPSECRET-4f1c9e";
const nobody = 65534;

describe.skipIf(requireOnCi(missing))(
  withReason(`user-files on a tree owned by ${userName} (needs root and the user)`, missing),
  () => {
    const uid = user?.uid ?? -1;
    let base: string;
    let home: string;
    const p = (rel: string) => join(home, rel);
    const server = createServer();
    const mine = (path: string) => lchownSync(path, uid, user?.gid ?? uid);

    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), "rootless-exporter-userfiles-"));
      chmodSync(base, 0o755);
      home = join(base, "home");
      mkdirSync(home, { mode: 0o700 });
      mine(home);
      // A root-only secret outside the user's tree.
      mkdirSync(join(base, "root-only"), { mode: 0o700 });
      writeFileSync(join(base, "root-only/secret"), `${secret}\n`, { mode: 0o600 });
      const plant = (rel: string, make: (path: string) => void) => {
        make(p(rel));
        mine(p(rel));
      };
      plant("docker.pid", (f) => writeFileSync(f, "1234\n"));
      plant("fifo", (f) => execFileSync("mkfifo", [f]));
      plant("link-to-secret", (f) => symlinkSync(join(base, "root-only/secret"), f));
      plant("dirlink", (f) => symlinkSync(join(base, "root-only"), f));
      plant("big", (f) => writeFileSync(f, "9".repeat(100)));
      plant("sub", (f) => mkdirSync(f));
      plant("sub/child_pid", (f) => writeFileSync(f, "77"));
      plant("null", (f) => execFileSync("mknod", [f, "c", "1", "3"]));
      writeFileSync(p("nobodys"), "5");
      chownSync(p("nobodys"), nobody, nobody);
      mkdirSync(p("nobody-dir"));
      writeFileSync(p("nobody-dir/file"), "6");
      chownSync(p("nobody-dir"), nobody, nobody);
      mine(p("nobody-dir/file"));
      // The exporter's own file with a second name: a hard link to a root file, as a user might.
      writeFileSync(p("roots"), "8");
      linkSync(p("roots"), p("roots-link"));
      writeFileSync(join(base, "root-single"), "9");
      // A symlink root made in a root-owned directory: trusted and followed.
      symlinkSync(home, join(base, "home-alias"));
      await new Promise<void>((resolve) => server.listen(p("api.sock"), resolve));
      mine(p("api.sock"));
    });
    afterAll(() => {
      server.close();
      rmSync(base, { recursive: true, force: true });
    });

    it.each<[string, string, UserFileState, string?]>([
      ["a regular file of the user's", "docker.pid", "ok", "1234\n"],
      ["a FIFO (never opened)", "fifo", "not_regular"],
      ["a symlink as the last component", "link-to-secret", "symlink"],
      ["a symlinked parent directory", "dirlink/secret", "symlink"],
      ["a file owned by someone else", "nobodys", "foreign_owner"],
      ["a parent directory owned by someone else", "nobody-dir/file", "foreign_owner"],
      ["a file larger than the bound", "big", "too_large"],
      ["a character device", "null", "not_regular"],
      ["a directory", "sub", "not_regular"],
      ["a file in a subdirectory", "sub/child_pid", "ok", "77"],
      ["a missing file", "nothing-here", "missing"],
      ["a path through a file", "docker.pid/x", "not_directory"],
      ["a file of the exporter's with two links (a hard link)", "roots-link", "foreign_owner"],
    ])("readUserFile: %s", async (_name, rel, state, text) => {
      const started = performance.now();
      const result = await readUserFile(p(rel), uid, 64);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(result.ok ? "ok" : result.state).toBe(state);
      if (result.ok) expect(result.text).toBe(text);
      else expect(result.detail).not.toContain(secret);
    });

    // issue 19: the reuse keys' look at a directory: one walk, an lstat of each name.
    it("statUserNames: lstat of each name, no link followed, no FIFO opened, no foreign dir", async () => {
      const started = performance.now();
      const names = ["docker.pid", "fifo", "link-to-secret", "sub", "api.sock", "nothing-here"];
      const found = await statUserNames(home, uid, names);
      expect(performance.now() - started).toBeLessThan(1000);
      if (!found.ok) throw new Error(found.detail);
      const kind = (name: string) => {
        const entry = found.entries.get(name);
        if (!entry?.ok) return entry?.state;
        const s = entry.stats;
        return s.isSymbolicLink()
          ? "symlink"
          : s.isFIFO()
            ? "fifo"
            : s.isSocket()
              ? "socket"
              : s.isDirectory()
                ? "directory"
                : "file";
      };
      expect(names.map(kind)).toEqual([
        "file",
        "fifo",
        "symlink",
        "directory",
        "socket",
        "missing",
      ]);
      expect(found.dir.uid).toBe(uid);
      // Behind a symlinked or foreign directory: refused as the walk refuses, nothing looked at.
      expect(await statUserNames(p("dirlink"), uid, ["secret"])).toMatchObject({
        ok: false,
        state: "symlink",
      });
      expect(await statUserNames(join(base, "root-only"), uid, ["secret", "nope"])).toMatchObject({
        ok: false,
        state: "foreign_owner",
      });
    });

    it("follows a symlink that root made in a root-owned directory", async () => {
      const result = await readUserFile(join(base, "home-alias/docker.pid"), uid, 64);
      expect(result).toMatchObject({ ok: true, text: "1234\n" });
    });

    // issue 16: a user's --state-dir naming root's directory made root read root's child_pid.
    it("refuses a single-link file of the exporter's own: root's files are not the user's", async () => {
      expect(await readUserFile(join(base, "root-single"), uid, 64)).toMatchObject({
        ok: false,
        state: "foreign_owner",
      });
    });

    it("opens nothing behind a root directory the user cannot pass, and tells no absence apart", async () => {
      const inVault = await readUserFile(join(base, "root-only/secret"), uid, 64);
      const absent = await readUserFile(join(base, "root-only/no-such-file"), uid, 64);
      expect(inVault).toMatchObject({ ok: false, state: "foreign_owner" });
      expect(absent).toEqual(inVault);
      expect(await statUserPath(join(base, "root-only"), uid, "directory")).toMatchObject({
        ok: false,
        state: "foreign_owner",
      });
    });

    it.each<[string, string, UserFileKind, UserFileState]>([
      ["the user's socket", "api.sock", "socket", "ok"],
      ["a regular file where a socket is expected", "docker.pid", "socket", "not_socket"],
      ["a FIFO where a socket is expected", "fifo", "socket", "not_socket"],
      ["a symlink where a socket is expected", "link-to-secret", "socket", "symlink"],
      ["the user's directory", "sub", "directory", "ok"],
      ["a directory of someone else", "nobody-dir", "directory", "foreign_owner"],
      ["a symlink where a directory is expected", "dirlink", "directory", "symlink"],
    ])("statUserPath: %s", async (_name, rel, kind, state) => {
      const result = await statUserPath(p(rel), uid, kind);
      expect(result.ok ? "ok" : result.state).toBe(state);
    });

    it("gives the owner and mode of a refused directory (the runtime dir check needs them)", async () => {
      const result = await statUserPath(p("nobody-dir"), uid, "directory");
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.stats?.uid).toBe(nobody);
    });

    // Random trees of dirs, files, FIFOs and symlinks: a read succeeds exactly when every
    // component is a real directory and the last a regular file, and no detail holds content.
    it("random trees: ok only for a plain chain ending in a regular file", async () => {
      type Node = "dir" | "file" | "fifo" | "link";
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom<Node>("dir", "file", "fifo", "link"), {
            minLength: 1,
            maxLength: 5,
          }),
          async (kinds) => {
            const root = join(home, `r${round++}`);
            mkdirSync(root);
            mine(root);
            let path = root;
            for (const [i, kind] of kinds.entries()) {
              path = join(path, `n${i}`);
              if (kind === "dir") mkdirSync(path);
              if (kind === "file") writeFileSync(path, secret);
              if (kind === "fifo") execFileSync("mkfifo", [path]);
              if (kind === "link") symlinkSync(join(base, "root-only/secret"), path);
              mine(path);
              if (kind !== "dir") break;
            }
            const result = await readUserFile(path, uid, 64);
            // The chain stops at the first non-directory: that is the path read.
            expect(result.ok).toBe(kinds.find((k) => k !== "dir") === "file");
            if (!result.ok) expect(result.detail).not.toContain(secret);
          },
        ),
        { numRuns: 60 },
      );
    });
  },
);

// The exporter's own tree (user mode, or fixture trees): runs as anyone. Its own symlinks in
// directories it owns are followed; the last component is never a symlink, FIFO or directory.
describe("user-files on the exporter's own tree", () => {
  const uid = process.geteuid?.() ?? -1;
  let own: string;
  beforeAll(() => {
    own = mkdtempSync(join(tmpdir(), "rootless-exporter-ownfiles-"));
    mkdirSync(join(own, "real"));
    writeFileSync(join(own, "real/docker.pid"), "99\n");
    symlinkSync(join(own, "real"), join(own, "alias"));
    symlinkSync(join(own, "real/docker.pid"), join(own, "pid-link"));
    execFileSync("mkfifo", [join(own, "fifo")]);
    writeFileSync(join(own, "big"), "1".repeat(65));
  });
  afterAll(() => rmSync(own, { recursive: true, force: true }));

  it.each<[string, string, UserFileState]>([
    ["a regular file", "real/docker.pid", "ok"],
    ["through its own symlinked directory", "alias/docker.pid", "ok"],
    ["a symlink as the last component", "pid-link", "symlink"],
    ["a FIFO, at once", "fifo", "not_regular"],
    ["a directory", "real", "not_regular"],
    ["one byte over the bound", "big", "too_large"],
    ["nothing", "none", "missing"],
    // issue 16 review: a tree 128,000 directories deep costs seconds a walk; refused at once.
    ["a path of 70 components", Array.from({ length: 70 }, () => "d").join("/"), "io_error"],
  ])("%s", async (_name, rel, state) => {
    const result = await readUserFile(join(own, rel), uid, 64);
    expect(result.ok ? "ok" : result.state).toBe(state);
  });
});
