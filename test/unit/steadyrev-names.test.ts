import {
  chmodSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import type * as Fs from "node:fs";
import type { Stats } from "node:fs";
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

/*
 * Review "steadyrev" of statUserNames (host/user-files.ts): the state dir's name in the runtime
 * dir is opened O_PATH|O_NOFOLLOW and its fstat stands for its lstat, then looked inside only when
 * it is a directory of the user's own. Held to main's statUserNames's answers before the change
 * (written out below) for every kind a hostile user can put under that name, and against a swap
 * of the name between the open and the look. Needs root (trees chowned to made-up uids).
 */

/** fstat of node:fs, with a hook run after the real call (a swap between open and look). */
const hook = vi.hoisted(() => ({ after: undefined as ((fd: number) => void) | undefined }));
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof Fs>();
  const fstat = ((fd: number, ...rest: unknown[]) => {
    const callback = rest[rest.length - 1] as (err: Error | null, stats?: Stats) => void;
    real.fstat(fd, (err, stats) => {
      hook.after?.(fd);
      callback(err, stats);
    });
  }) as typeof real.fstat;
  return { ...real, default: { ...real, fstat }, fstat };
});

const { statUserNames } = await import("../../src/host/user-files.js");
type Found = Awaited<ReturnType<typeof statUserNames>>;

const isRoot = process.getuid?.() === 0;
const user = 4721;
const other = 4722;
const runtimeNames = ["docker.pid", "dockerd-rootless", "docker.sock", "bus"];
const stateNames = ["child_pid", "netns", "lock", "api.sock"];
const nested = { name: "dockerd-rootless", names: stateNames };

/** What a caller can see of an answer: states, owners, kinds, inodes; never the OS's message. */
function shape(found: Found): unknown {
  const stat = (s: Stats) => ({ uid: s.uid, mode: s.mode, ino: s.ino });
  const entries = (m: ReadonlyMap<string, { ok: boolean; stats?: Stats; state?: string }>) =>
    [...m].map(([name, e]) => [name, e.ok ? stat(e.stats as Stats) : e.state]);
  if (!found.ok) return { ok: false, state: found.state };
  const inner = found.nested;
  return {
    dir: stat(found.dir),
    entries: entries(found.entries),
    nested:
      inner === undefined
        ? undefined
        : inner.ok
          ? { dir: stat(inner.dir), entries: entries(inner.entries) }
          : { state: inner.state },
  };
}

describe.skipIf(!isRoot)("steadyrev: the state dir's one look, held against main (root)", () => {
  let base: string;
  const servers: Server[] = [];
  const runtime = (name: string) => join(base, "run/user", name);
  const own = (path: string, uid = user) => lchownSync(path, uid, uid);
  const dir = (path: string, uid = user, mode = 0o700) => {
    mkdirSync(path);
    chmodSync(path, mode);
    own(path, uid);
  };
  const file = (path: string, uid = user) => {
    writeFileSync(path, "1234\n");
    own(path, uid);
  };
  const fillState = (path: string) => {
    file(join(path, "child_pid"));
    symlinkSync("/proc/1/ns/net", join(path, "netns"));
    own(join(path, "netns"));
    execFileSync("mkfifo", [join(path, "lock")]);
    own(join(path, "lock"));
  };
  /** A runtime dir of the user's with `make` putting something at its state dir's name. */
  const cases: Record<string, (state: string, rt: string) => void | Promise<void>> = {
    missing: () => undefined,
    file: (state) => file(state),
    fifo: (state) => {
      execFileSync("mkfifo", [state]);
      own(state);
    },
    socket: async (state) => {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((r) => server.listen(state, r));
      own(state);
    },
    "symlink to the user's dir": (state, rt) => {
      dir(join(rt, "real"));
      fillState(join(rt, "real"));
      symlinkSync("real", state);
      own(state);
    },
    "symlink to /etc": (state) => {
      symlinkSync("/etc", state);
      own(state);
    },
    "the user's dir": (state) => {
      dir(state);
      fillState(state);
    },
    "the user's dir, mode 0000": (state) => {
      dir(state, user, 0o000);
    },
    "another user's dir": (state) => {
      dir(state, other);
      fillState(state);
    },
    "root's 0700 dir": (state) => {
      dir(state, 0);
      file(join(state, "child_pid"), 0);
    },
    "a dir with a FIFO and a socket inside": async (state) => {
      dir(state);
      execFileSync("mkfifo", [join(state, "child_pid")]);
      own(join(state, "child_pid"));
      const server = createServer();
      servers.push(server);
      await new Promise<void>((r) => server.listen(join(state, "api.sock"), r));
    },
  };

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "rootless-exporter-steadyrev-names-"));
    chmodSync(base, 0o755);
    mkdirSync(join(base, "run/user"), { recursive: true });
    chmodSync(join(base, "run"), 0o755);
    chmodSync(join(base, "run/user"), 0o755);
    let i = 0;
    for (const [name, make] of Object.entries(cases)) {
      const rt = runtime(String(++i));
      dir(rt);
      file(join(rt, "docker.pid"));
      await make(join(rt, "dockerd-rootless"), rt);
      void name;
    }
    // A runtime dir that is another user's: refused before any look inside it.
    dir(runtime("foreign"), other);
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((r) => server.close(r));
    rmSync(base, { recursive: true, force: true });
  });

  /** main's answer for the runtime dir of `cases`'s `label`, in shape()'s terms. */
  function mains(label: string, rt: string): unknown {
    /** The lstat of what is at `path` (never what a symlink there points to), owned by `uid`. */
    const at = (path: string, uid: number) => {
      const s = lstatSync(path);
      return { uid, mode: s.mode, ino: s.ino };
    };
    const state = join(rt, "dockerd-rootless");
    const outer = (entry: unknown, inner?: unknown) => ({
      dir: at(rt, user),
      entries: [
        ["docker.pid", at(join(rt, "docker.pid"), user)],
        ["dockerd-rootless", entry],
        ["docker.sock", "missing"],
        ["bus", "missing"],
      ],
      nested: inner,
    });
    const inside = (entries: Record<string, unknown>) => ({
      dir: at(state, user),
      entries: stateNames.map((name) => [name, entries[name] ?? "missing"]),
    });
    switch (label) {
      case "missing":
        return outer("missing");
      case "another user's dir":
        return outer(at(state, other));
      case "root's 0700 dir":
        return outer(at(state, 0));
      case "the user's dir":
        return outer(
          at(state, user),
          inside({
            child_pid: at(join(state, "child_pid"), user),
            netns: at(join(state, "netns"), user),
            lock: at(join(state, "lock"), user),
          }),
        );
      case "the user's dir, mode 0000":
        return outer(at(state, user), inside({}));
      case "a dir with a FIFO and a socket inside":
        return outer(
          at(state, user),
          inside({
            child_pid: at(join(state, "child_pid"), user),
            "api.sock": at(join(state, "api.sock"), 0),
          }),
        );
      case "foreign runtime dir":
        return { ok: false, state: "foreign_owner" };
      default:
        // A file, a FIFO, a socket, a symlink to the user's dir or to /etc: its own lstat, no look.
        return outer(at(state, user));
    }
  }

  it("answers every kind at the state dir's name as main did, and never hangs on one", async () => {
    const names = [...Object.keys(cases).map((_, i) => String(i + 1)), "foreign"];
    const labels: string[] = [];
    for (const [i, rt] of names.map((n) => runtime(n)).entries()) {
      const label = Object.keys(cases)[i] ?? "foreign runtime dir";
      labels.push(label);
      const now = await statUserNames(rt, user, runtimeNames, undefined, nested);
      expect(shape(now), label).toEqual(mains(label, rt));
    }
    expect(labels).toEqual([
      "missing",
      "file",
      "fifo",
      "socket",
      "symlink to the user's dir",
      "symlink to /etc",
      "the user's dir",
      "the user's dir, mode 0000",
      "another user's dir",
      "root's 0700 dir",
      "a dir with a FIFO and a socket inside",
      "foreign runtime dir",
    ]);
  });

  it("looks inside the user's own directory only, and only through what it opened", async () => {
    const looks = new Map<string, boolean>();
    for (const [i, name] of Object.keys(cases).entries()) {
      const found = await statUserNames(
        runtime(String(i + 1)),
        user,
        runtimeNames,
        undefined,
        nested,
      );
      looks.set(name, found.ok && found.nested?.ok === true);
    }
    expect([...looks].filter(([, looked]) => looked).map(([name]) => name)).toEqual([
      "the user's dir",
      "the user's dir, mode 0000",
      "a dir with a FIFO and a socket inside",
    ]);
  });

  it("answers for the directory it opened when the name is swapped for a symlink between the open and the look", async () => {
    const rt = runtime("swap");
    dir(rt);
    const state = join(rt, "dockerd-rootless");
    dir(state);
    file(join(state, "child_pid"));
    // What the user swaps in: a directory of theirs with another content (a lock, no child_pid).
    const decoy = join(rt, "decoy");
    dir(decoy);
    file(join(decoy, "lock"));
    let swapped = false;
    hook.after = (fd) => {
      const target = (() => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return undefined;
        }
      })();
      if (swapped || target !== state) return;
      swapped = true;
      renameSync(state, join(rt, "moved"));
      symlinkSync("decoy", state);
    };
    try {
      const found = await statUserNames(rt, user, runtimeNames, undefined, nested);
      expect(swapped).toBe(true);
      expect(found.ok).toBe(true);
      if (!found.ok || !found.nested?.ok) throw new Error("no look inside the state dir");
      expect(found.nested.dir.isDirectory()).toBe(true);
      expect(found.nested.entries.get("child_pid")?.ok).toBe(true);
      expect(found.nested.entries.get("lock")?.ok).toBe(false);
    } finally {
      hook.after = undefined;
    }
  });
});
