import { closeSync, openSync, readdirSync, readSync, statfsSync, statSync } from "node:fs";
import { lstat, open, opendir, readdir, rm, stat, statfs, writeFile } from "node:fs/promises";
import type { Dir, Dirent, Stats } from "node:fs";
import type { MountTable } from "./mount-table.js";

/** Why a read did not produce content: an expected condition, reported as a fact, never thrown. */
export type ReadFailure = "missing" | "permission_denied" | "too_large" | "not_a_file" | "io_error";

export type ReadResult =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: ReadFailure; readonly detail: string };

/** The largest file a collector reads; /etc/subuid with 100k lines is about 3 MB. */
export const maxFileBytes = 16 * 1024 * 1024;

export function failureOf(err: unknown): ReadFailure {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
    case "ESRCH":
      return "missing";
    case "EACCES":
    case "EPERM":
      return "permission_denied";
    case "EISDIR":
      return "not_a_file";
    default:
      return "io_error";
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads a whole text file with a size bound: at once on a local filesystem, through the thread
 * pool on a network or FUSE one, where a read may hang (see MountTable).
 */
export function readText(
  mounts: MountTable,
  path: string,
  limit = maxFileBytes,
): Promise<ReadResult> {
  return mounts.isLocal(path) ? readKernelText(path, limit) : readTextAsync(path, limit);
}

/**
 * readText that never blocks the event loop, whatever the filesystem: for /proc/PID/cmdline and
 * environ, which read another process's memory and can wait behind its mmap lock.
 */
export async function readTextAsync(path: string, limit = maxFileBytes): Promise<ReadResult> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    return { ok: false, reason: failureOf(err), detail: describe(err) };
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    // No bigger a buffer than the file may be: small files are read in their thousands.
    const chunkBytes = Math.min(limit + 1, 64 * 1024);
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > limit) {
        return { ok: false, reason: "too_large", detail: `${path} is larger than ${limit} bytes` };
      }
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
  } catch (err) {
    return { ok: false, reason: failureOf(err), detail: describe(err) };
  } finally {
    await handle.close();
  }
}

export type StatResult =
  | { readonly ok: true; readonly stats: Stats }
  | { readonly ok: false; readonly reason: ReadFailure; readonly detail: string };

export function statPath(mounts: MountTable, path: string): Promise<StatResult> {
  return mounts.isLocal(path) ? statKernelPath(path) : statAsync(path);
}

/** The entry itself, never what a symlink points to (a scan of a directory users write in). */
export async function lstatPath(path: string): Promise<StatResult> {
  try {
    return { ok: true, stats: await lstat(path) };
  } catch (err) {
    return { ok: false, reason: failureOf(err), detail: describe(err) };
  }
}

async function statAsync(path: string): Promise<StatResult> {
  try {
    return { ok: true, stats: await stat(path) };
  } catch (err) {
    return { ok: false, reason: failureOf(err), detail: describe(err) };
  }
}

/**
 * What changes whenever a file's content may have: device, inode (a file replaced by rename),
 * size, mtime and ctime. Undefined when the file cannot be stat'ed.
 */
export async function fileIdentity(mounts: MountTable, path: string): Promise<string | undefined> {
  const stat = await statPath(mounts, path);
  if (!stat.ok) return undefined;
  const { dev, ino, size, mtimeMs, ctimeMs } = stat.stats;
  return `${dev}:${ino}:${size}:${mtimeMs}:${ctimeMs}`;
}

export async function exists(mounts: MountTable, path: string): Promise<boolean> {
  return (await statPath(mounts, path)).ok;
}

export type ListResult =
  | { readonly ok: true; readonly names: readonly string[] }
  | { readonly ok: false; readonly reason: ReadFailure; readonly detail: string };

export function listDir(mounts: MountTable, path: string): Promise<ListResult> {
  return mounts.isLocal(path) ? listKernelDir(path) : listDirAsync(path);
}

async function listDirAsync(path: string): Promise<ListResult> {
  try {
    return { ok: true, names: await readdir(path) };
  } catch (err) {
    return { ok: false, reason: failureOf(err), detail: describe(err) };
  }
}

/** The first `max` names of an open directory, a batch at a time, then closes it. */
export async function readNamesCapped(
  dir: Dir,
  max: number,
  keep: (entry: Dirent) => boolean = () => true,
): Promise<{ readonly names: string[]; readonly complete: boolean }> {
  const names: string[] = [];
  try {
    for (;;) {
      const entry = await dir.read();
      if (entry === null) return { names, complete: true };
      if (names.length === max) return { names, complete: false };
      if (keep(entry)) names.push(entry.name);
    }
  } finally {
    await dir.close().catch(() => undefined);
  }
}

/**
 * The first `max` names of a directory, read through the thread pool a batch at a time: for
 * directories another user fills (/proc/PID/fd, /proc/PID/task, /tmp), where a whole readdir
 * may be hundreds of thousands of names. `complete` says whether all were read.
 */
export async function listDirCapped(
  path: string,
  max: number,
  keep?: (entry: Dirent) => boolean,
): Promise<
  | (ListResult & { readonly ok: false })
  | { readonly ok: true; readonly names: string[]; readonly complete: boolean }
> {
  try {
    const dir = await opendir(path, { bufferSize: Math.min(max, 128) });
    return { ok: true, ...(await readNamesCapped(dir, max, keep)) };
  } catch (err) {
    return { ok: false, reason: failureOf(err), detail: describe(err) };
  }
}

/*
 * procfs and sysfs files are made by the kernel from memory: reading one never waits on a disk,
 * and a synchronous read costs ~15 µs of CPU where a round trip through libuv's thread pool costs
 * 150-220 µs (bench: a collection cycle reads ~150 of them). Files that read another process's
 * memory (/proc/PID/cmdline, environ) can block behind that process's mmap lock, so they, and
 * everything on real filesystems (/etc may be NFS), use the asynchronous readers above.
 */

/*
 * One buffer for every synchronous read: the reads cannot interleave, and a fresh 8 KiB buffer
 * per read (~60 a cycle) lives outside the V8 heap and was a good part of the cycle's garbage.
 */
const scratch = Buffer.allocUnsafe(64 * 1024);

/** readText for a procfs or sysfs file that does not touch another process's memory. */
export function readKernelText(path: string, limit = maxFileBytes): Promise<ReadResult> {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    let used = 0;
    let total = 0;
    let full: Buffer[] | undefined; // what did not fit in the scratch buffer, in order
    for (;;) {
      if (used === scratch.length) {
        (full ??= []).push(Buffer.from(scratch));
        used = 0;
      }
      const bytesRead = readSync(fd, scratch, used, scratch.length - used, null);
      if (bytesRead === 0) break;
      used += bytesRead;
      total += bytesRead;
      if (total > limit) {
        return Promise.resolve({
          ok: false,
          reason: "too_large",
          detail: `${path} is larger than ${limit} bytes`,
        });
      }
    }
    const text = full
      ? Buffer.concat([...full, scratch.subarray(0, used)]).toString("utf8")
      : scratch.toString("utf8", 0, used);
    return Promise.resolve({ ok: true, text });
  } catch (err) {
    return Promise.resolve({ ok: false, reason: failureOf(err), detail: describe(err) });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** listDir for a procfs or sysfs directory. */
export function listKernelDir(path: string): Promise<ListResult> {
  try {
    return Promise.resolve({ ok: true, names: readdirSync(path) });
  } catch (err) {
    return Promise.resolve({ ok: false, reason: failureOf(err), detail: describe(err) });
  }
}

/** statPath for a procfs or sysfs entry (the owner of /proc/PID is the process's owner). */
export function statKernelPath(path: string): Promise<StatResult> {
  try {
    // A missing path is common (binaries looked for in several dirs): no exception for it.
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats) return Promise.resolve({ ok: true, stats });
    return Promise.resolve({
      ok: false,
      reason: "missing",
      detail: `ENOENT: no such file or directory, stat '${path}'`,
    });
  } catch (err) {
    return Promise.resolve({ ok: false, reason: failureOf(err), detail: describe(err) });
  }
}

/** The filesystem magic number of the filesystem holding `path` (statfs(2)), if it can be had. */
export function filesystemType(mounts: MountTable, path: string): Promise<number | undefined> {
  // statfs(2) of a path on a network filesystem can hang like a read: same rule as readText.
  if (!mounts.isLocal(path))
    return statfs(path).then(
      (r) => r.type,
      () => undefined,
    );
  try {
    return Promise.resolve(statfsSync(path).type);
  } catch {
    return Promise.resolve(undefined);
  }
}

/** Writes a small state file of the exporter's own (the probe's leftovers). */
export async function writeTextFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
