import { listDir, readKernelText, readTextAsync } from "./files.js";
import type { MountTable } from "./mount-table.js";
import type { HostRoots } from "./paths.js";
import { procPath, rootPath } from "./paths.js";
import { parseProcStat } from "./proc-parsers.js";

/** The uids that have a /run/user/UID (any entry named by a number). */
export async function runUserUids(roots: HostRoots, mounts: MountTable): Promise<number[]> {
  const dirs = await listDir(mounts, rootPath(roots, "/run/user"));
  return (dirs.ok ? dirs.names : []).filter((n) => /^\d{1,10}$/.test(n)).map(Number);
}

/** A process's start time in clock ticks: with its pid, the process's identity. */
export async function processStartTicks(
  roots: HostRoots,
  pid: number,
): Promise<number | undefined> {
  const stat = await readKernelText(procPath(roots, String(pid), "stat"));
  return (stat.ok ? parseProcStat(stat.text) : undefined)?.startTicks;
}

/** XDG_RUNTIME_DIR in a process's environment (root reads any; the value is the user's). */
export async function environRuntimeDir(
  roots: HostRoots,
  pid: number,
): Promise<string | undefined> {
  const text = await readTextAsync(procPath(roots, String(pid), "environ"), 256 * 1024);
  if (!text.ok) return undefined;
  const entry = text.text.split("\0").find((e) => e.startsWith("XDG_RUNTIME_DIR="));
  const value = entry?.slice("XDG_RUNTIME_DIR=".length);
  return value && value.length > 0 && value.length < 4096 ? value : undefined;
}
