import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostRoots } from "../../src/host/paths.js";

export interface FakeProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly uid: number;
  readonly exe: string;
  readonly argv: readonly string[];
  /** Field 22 of stat: what tells a process from a later one with the same pid. */
  readonly startTicks: number;
  /** Children listed in /proc/PID/task/PID/children. */
  readonly children?: readonly number[];
  readonly rssKiB?: number;
  /** Where /proc/PID/fd/0, 1, ... point ("anon_inode:inotify", "/dev/null", "socket:[123]"). */
  readonly fds?: readonly string[];
}

/**
 * A process table in a temporary procfs root: stat, status, cmdline, an exe symlink and the
 * children of the main thread, in the kernel's formats. What the tests of discovery run on when
 * the point is a process that appears, dies or is replaced on cue.
 */
export class FakeProcfs {
  readonly dir: string;
  readonly roots: HostRoots;

  /** In a new temporary directory, or in `dir` (a fixture tree with proc/, sys/ and root/). */
  constructor(dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), "rootless-exporter-procfs-"));
    // A host's / is open to every user: a root exporter passes no closed root directory to a
    // user's file (host/user-files), and mkdtemp makes 0700.
    chmodSync(this.dir, 0o755);
    this.roots = {
      procfs: join(this.dir, "proc"),
      sysfs: join(this.dir, "sys"),
      rootfs: join(this.dir, "root"),
    };
    mkdirSync(this.roots.procfs, { recursive: true });
    mkdirSync(this.roots.rootfs, { recursive: true });
    writeFileSync(join(this.roots.procfs, "stat"), "cpu  1 2 3 4\nbtime 1700000000\n");
  }

  add(p: FakeProcess): void {
    this.remove(p.pid);
    const dir = join(this.roots.procfs, String(p.pid));
    mkdirSync(join(dir, "task", String(p.pid)), { recursive: true });
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    // cutime cstime priority nice threads itrealvalue starttime ...
    const fields = ["S", p.ppid, p.pid, p.pid, 0, -1, 0, 0, 0, 0, 0, 150, 50, 0, 0, 20, 0, 1, 0];
    writeFileSync(
      join(dir, "stat"),
      `${p.pid} (${p.comm}) ${fields.join(" ")} ${p.startTicks} 1000 200 0\n`,
    );
    writeFileSync(
      join(dir, "status"),
      `Name:\t${p.comm}\nState:\tS (sleeping)\nPid:\t${p.pid}\nPPid:\t${p.ppid}\n` +
        `Uid:\t${p.uid}\t${p.uid}\t${p.uid}\t${p.uid}\nGid:\t${p.uid}\t${p.uid}\t${p.uid}\t${p.uid}\n` +
        `NSpid:\t${p.pid}\nVmRSS:\t${p.rssKiB ?? 2048} kB\nThreads:\t1\n`,
    );
    writeFileSync(join(dir, "cmdline"), `${p.argv.join("\0")}\0`);
    writeFileSync(join(dir, "comm"), `${p.comm}\n`);
    writeFileSync(join(dir, "task", String(p.pid), "children"), (p.children ?? []).join(" "));
    symlinkSync(p.exe, join(dir, "exe"));
    if (p.fds) {
      mkdirSync(join(dir, "fd"));
      p.fds.forEach((target, fd) => symlinkSync(target, join(dir, "fd", String(fd))));
    }
    // The owner of /proc/PID is the process's owner: what a scan of the process table reads.
    if (process.getuid?.() === 0) chownSync(dir, p.uid, p.uid);
  }

  /** The process exits (its /proc directory goes). */
  remove(pid: number): void {
    rmSync(join(this.roots.procfs, String(pid)), { recursive: true, force: true });
  }

  /** Overwrites a file under the procfs root, e.g. "100/cmdline" or "stat". */
  write(path: string, text: string): void {
    writeFileSync(join(this.roots.procfs, path), text);
  }

  /** A file under the root filesystem, e.g. the runtime dir's docker.pid. */
  writeRoot(path: string, text: string): void {
    const full = join(this.roots.rootfs, path);
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, text);
  }

  /** As root, hands a path under the root filesystem (and all below it) to `uid`, as the user's. */
  chownRoot(path: string, uid: number): void {
    if (process.getuid?.() !== 0) return;
    const full = join(this.roots.rootfs, path);
    chownSync(full, uid, uid);
    if (!statSync(full).isDirectory()) return;
    for (const name of readdirSync(full, { recursive: true }))
      lchownSync(join(full, String(name)), uid, uid);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
