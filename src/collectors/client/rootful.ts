import { posix } from "node:path";
import { lstatPath, readKernelText, statPath } from "../../host/files.js";
import { resolveUnder } from "../../host/links.js";
import type { MountTable } from "../../host/mount-table.js";
import type { HostRoots } from "../../host/paths.js";
import { procPath, rootPath } from "../../host/paths.js";
import { parseProcStatus } from "../../host/proc-parsers.js";
import type { ProcessTable } from "../../host/process-table.js";

/*
 * The rootful Docker beside the rootless ones: a dockerd that root runs, and the system socket
 * /var/run/docker.sock. The socket is root's path, looked at with lstat (its last component is
 * never followed) and judged from its mode, owner and group against the user's groups, as the
 * kernel would judge connect(2): nothing is opened or connected to.
 */

export interface RootfulSocket {
  /** The host path looked at: /var/run/docker.sock, /var/run resolved under the root filesystem. */
  readonly path: string;
  readonly state: "socket" | "missing" | "not_socket" | "unreadable";
  /** Permission bits, owner and group of the entry (when it exists). */
  readonly mode?: number;
  readonly ownerUid?: number;
  readonly groupGid?: number;
  /**
   * Whether the user may connect, from modes alone: write on the socket, search on every
   * directory above it (POSIX ACLs are not read). False when there is no socket; absent when
   * the entry could not be looked at.
   */
  readonly writable?: boolean;
  /** The class of the socket's mode that applies to the user. */
  readonly access?: "owner" | "group" | "other";
  /** The first directory above the socket the user cannot search, when one is. */
  readonly closedDir?: string;
}

export interface Owned {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** The class of `file`'s mode the kernel applies to a process of `uid` with `groups` (no ACL). */
export function modeClass(
  file: Owned,
  uid: number,
  groups: readonly number[],
): "owner" | "group" | "other" {
  if (file.uid === uid) return "owner";
  return groups.includes(file.gid) ? "group" : "other";
}

/** Whether that class grants `bit` (2 write, 1 search/execute). */
export function modeGrants(
  file: Owned,
  uid: number,
  groups: readonly number[],
  bit: 1 | 2,
): boolean {
  const shift = { owner: 6, group: 3, other: 0 }[modeClass(file, uid, groups)];
  return ((file.mode >> shift) & bit) !== 0;
}

/** What the judgement of the rootful socket reads: root's entries, the same for every user. */
export interface RootfulSocketScan {
  readonly path: string;
  readonly entry:
    | { readonly ok: true; readonly socket: boolean; readonly file: Owned }
    | { readonly ok: false; readonly missing: boolean };
  /** The directories above the socket, nearest first, up to `/` or the first that cannot be seen. */
  readonly dirs: readonly { readonly at: string; readonly owned: Owned }[];
  /** Every directory up to `/` was seen. */
  readonly complete: boolean;
}

/** lstat of root's /var/run/docker.sock and stat of the directories above it (once a cycle). */
export async function scanRootfulSocket(
  roots: HostRoots,
  mounts: MountTable,
): Promise<RootfulSocketScan> {
  // /var/run is root's link to /run on current systems; resolved under --path.rootfs, not the
  // exporter's own /run, when the host is mounted elsewhere.
  const dir = resolveUnder(roots, "/var/run") ?? "/var/run";
  const path = posix.join(dir, "docker.sock");
  const entry = await lstatPath(rootPath(roots, path));
  if (!entry.ok)
    return {
      path,
      entry: { ok: false, missing: entry.reason === "missing" },
      dirs: [],
      complete: false,
    };
  const stats = entry.stats;
  const file = { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
  const socket = stats.isSocket();
  const dirs: { at: string; owned: Owned }[] = [];
  if (!socket) return { path, entry: { ok: true, socket, file }, dirs, complete: false };
  for (let at = dir; ; at = posix.dirname(at)) {
    const seen = await statPath(mounts, rootPath(roots, at));
    if (!seen.ok) return { path, entry: { ok: true, socket, file }, dirs, complete: false };
    dirs.push({ at, owned: { mode: seen.stats.mode, uid: seen.stats.uid, gid: seen.stats.gid } });
    if (at === "/") break;
  }
  return { path, entry: { ok: true, socket, file }, dirs, complete: true };
}

/** The rootful socket as `user` meets it, judged from the modes alone. */
export async function readRootfulSocket(
  roots: HostRoots,
  mounts: MountTable,
  user: { readonly uid: number; readonly groups: readonly number[] },
  scanned: Promise<RootfulSocketScan> = scanRootfulSocket(roots, mounts),
): Promise<RootfulSocket> {
  const { path, entry, dirs, complete } = await scanned;
  if (!entry.ok)
    return entry.missing
      ? { path, state: "missing", writable: false }
      : { path, state: "unreadable" };
  const { file } = entry;
  const facts = { path, mode: file.mode, ownerUid: file.uid, groupGid: file.gid };
  if (!entry.socket) return { ...facts, state: "not_socket", writable: false };
  if (!complete) return { ...facts, state: "socket" };
  const closedDir = dirs.find(({ owned }) => !modeGrants(owned, user.uid, user.groups, 1))?.at;
  const access = modeClass(file, user.uid, user.groups);
  return {
    ...facts,
    state: "socket",
    access,
    writable: closedDir === undefined && modeGrants(file, user.uid, user.groups, 2),
    ...(closedDir !== undefined && { closedDir }),
  };
}

/**
 * dockerd processes root started (the rootful daemons), in pid order. Undefined when root's
 * processes are hidden from the exporter (/proc mounted with hidepid, the exporter not root):
 * init's name, /proc/1/comm, cannot be read then, and "none" would be a guess. The same for every
 * user: read once a cycle (clientCollector), each user's own dockerd taken out after.
 */
export async function rootfulDockerds(
  roots: HostRoots,
  table: ProcessTable,
): Promise<number[] | undefined> {
  if (!(await readKernelText(procPath(roots, "1/comm"), 64)).ok) return undefined;
  const rootful: number[] = [];
  for (const pid of table.named(0, (comm) => comm === "dockerd"))
    if (await realRoot(roots, pid)) rootful.push(pid);
  return rootful;
}

/**
 * Whether root started the process: its real uid (the first of status's Uid line) is 0. /proc/PID
 * of a setuid-root program a user runs belongs to root too, and its comm is the name the user ran
 * it by: `ln -s /usr/bin/su ~/dockerd && ~/dockerd` is no rootful daemon, but its real uid is the
 * user's.
 */
async function realRoot(roots: HostRoots, pid: number): Promise<boolean> {
  const status = await readKernelText(procPath(roots, String(pid), "status"), 8192);
  return status.ok && parseProcStatus(status.text)?.uids[0] === 0;
}
