import { runFile } from "./exec.js";
import { lstatPath } from "./files.js";
import type { HostRoots } from "./paths.js";
import { rootPath } from "./paths.js";

/** The directories of systemd's default PATH for services and user managers, in its order. */
const systemBinDirs = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

/** The user the exporter runs a system program as, when it is root: nobody. */
const nobody = { uid: 65534, gid: 65534 };

export interface SystemProgram {
  /** The path on the host (without the rootfs prefix). */
  readonly path: string;
  /** What changes when the file is replaced: device, inode, size, mtime. */
  readonly identity: string;
}

/**
 * The first `name` in systemd's default PATH that is a regular file owned by root and writable by
 * nobody else: a program root may run. Symlinks are read with lstat and refused (Debian's are
 * real files); a user's own copy (~/bin) is never run.
 */
export async function findSystemProgram(
  roots: HostRoots,
  name: string,
): Promise<SystemProgram | undefined> {
  for (const dir of systemBinDirs) {
    const path = `${dir}/${name}`;
    const stat = await lstatPath(rootPath(roots, path));
    if (!stat.ok) continue;
    const s = stat.stats;
    if (!s.isFile() || s.uid !== 0 || (s.mode & 0o022) !== 0) return undefined;
    return { path, identity: `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}` };
  }
  return undefined;
}

export type VersionAnswer =
  { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

/**
 * `PROGRAM --version`: a fixed argv, no shell, killed after `timeoutMs`, 4 KiB of output at most,
 * run as nobody when the exporter is root. Its first line, printable ASCII only.
 */
export async function programVersion(
  roots: HostRoots,
  program: SystemProgram,
  timeoutMs: number,
): Promise<VersionAnswer> {
  const root = process.geteuid?.() === 0;
  const result = await runFile(rootPath(roots, program.path), ["--version"], {
    timeoutMs,
    maxBytes: 4096,
    ...(root && { credentials: nobody }),
  });
  if (!result.ok) return { ok: false, error: `${program.path} --version: ${result.reason}` };
  const first = result.stdout.split("\n")[0] ?? "";
  return { ok: true, text: first.replace(/[^\x20-\x7e]/g, "?").slice(0, 200) };
}
