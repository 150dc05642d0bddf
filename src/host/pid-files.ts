import type { HostRoots } from "./paths.js";
import { rootPath } from "./paths.js";
import type { ProcessInfo } from "./proc.js";
import { programName, readProcess } from "./proc.js";
import type { UserFileRefusal } from "./user-walk.js";
import { readUserFile } from "./user-files.js";
import type { WalkMemo } from "./walk-memo.js";

/** Pid files (docker.pid, child_pid) and the processes they name, checked in /proc. */

/**
 * What docker.pid says, after checking /proc: pids are reused, so a number alone proves nothing.
 * "unsafe": the file was refused unread (a symlink, FIFO, device, someone else's; host/user-files).
 */
export type PidFileState =
  | "ok"
  | "missing"
  | "unreadable"
  | "unsafe"
  | "garbage"
  | "dead"
  | "foreign_owner"
  | "unexpected_program";

export interface PidCheck {
  readonly state: PidFileState;
  readonly pid?: number;
  readonly process?: ProcessInfo;
  readonly detail: string;
}

/** A pid is trusted only when /proc shows it alive, owned by the user and running `programs`. */
export async function checkPid(
  roots: HostRoots,
  pid: number,
  uid: number,
  programs: readonly string[],
): Promise<PidCheck> {
  const info = await readProcess(roots, pid, { argv: false });
  if (!info) return { state: "dead", pid, detail: `no live process ${pid}` };
  if (info.status.uids[0] !== uid) {
    return {
      state: "foreign_owner",
      pid,
      detail: `process ${pid} belongs to uid ${info.status.uids[0]}`,
    };
  }
  const program = programName(info);
  if (!programs.includes(program)) {
    return {
      state: "unexpected_program",
      pid,
      detail: `process ${pid} is ${program}, not ${programs.join("/")}`,
    };
  }
  return { state: "ok", pid, process: info, detail: `process ${pid} is ${program}` };
}

const pidFileRefusal: Partial<Record<UserFileRefusal, PidFileState>> = {
  missing: "missing",
  permission_denied: "unreadable",
  io_error: "unreadable",
  too_large: "garbage",
};

/**
 * Reads a pid file (docker.pid, child_pid) and checks the process it names. `known` is a process
 * this tick has already checked against the same uid and programs: naming it needs no new reads.
 */
export async function checkPidFile(
  roots: HostRoots,
  path: string,
  uid: number,
  programs: readonly string[],
  known?: ProcessInfo,
  memo?: WalkMemo,
): Promise<PidCheck> {
  // The file is the user's to plant (runtime dir, state dir): read as hostile, never echoed.
  const text = await readUserFile(rootPath(roots, path), uid, 64, memo);
  if (!text.ok) {
    const state = pidFileRefusal[text.state] ?? "unsafe";
    return { state, detail: text.detail };
  }
  const trimmed = text.text.trim();
  if (!/^\d{1,9}$/.test(trimmed) || Number(trimmed) === 0) {
    return { state: "garbage", detail: `${path} is not a pid (${text.stats.size} bytes)` };
  }
  const pid = Number(trimmed);
  if (known?.pid === pid)
    return { state: "ok", pid, process: known, detail: `process ${pid} is ${programName(known)}` };
  return checkPid(roots, pid, uid, programs);
}
