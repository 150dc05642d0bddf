import { userInfo } from "node:os";
import { fileIdentity, readText } from "./files.js";
import type { MountTable } from "./mount-table.js";
import type { HostRoots } from "./paths.js";
import { rootPath } from "./paths.js";

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

const idPattern = /^\d{1,10}$/;

function parseId(field: string | undefined): number | undefined {
  if (field === undefined || !idPattern.test(field)) return undefined;
  const id = Number(field);
  return id <= 0xffffffff ? id : undefined;
}

/** passwd(5): name:password:UID:GID:GECOS:directory:shell. Malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields.length < 7) continue;
    const [name, , uidField, gidField, , home] = fields;
    const uid = parseId(uidField);
    const gid = parseId(gidField);
    if (!name || uid === undefined || gid === undefined) continue;
    entries.push({ name, uid, gid, home: home ?? "" });
  }
  return entries;
}

/** group(5): group_name:password:GID:user_list. Malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields.length < 4) continue;
    const [name, , gidField, memberField] = fields;
    const gid = parseId(gidField);
    if (!name || gid === undefined) continue;
    const members = (memberField ?? "").split(",").filter((m) => m.length > 0);
    entries.push({ name, gid, members });
  }
  return entries;
}

export async function readPasswd(roots: HostRoots, mounts: MountTable): Promise<PasswdEntry[]> {
  const result = await readText(mounts, rootPath(roots, "/etc/passwd"));
  return result.ok ? parsePasswd(result.text) : [];
}

/**
 * The gids of the groups that list each user as a member, made once for all users: looking
 * through every group for every user cost 375 ms at 10,000 users (bench/loop-blocks.mjs).
 */
export function memberships(groups: readonly GroupEntry[]): ReadonlyMap<string, readonly number[]> {
  const byMember = new Map<string, number[]>();
  for (const group of groups)
    for (const member of group.members) {
      const gids = byMember.get(member);
      if (gids) gids.push(group.gid);
      else byMember.set(member, [group.gid]);
    }
  return byMember;
}

/** The primary group and every group that lists the user as a member (see memberships). */
export function groupsOf(
  user: PasswdEntry,
  byMember: ReadonlyMap<string, readonly number[]>,
): number[] {
  const ids = new Set<number>([user.gid, ...(byMember.get(user.name) ?? [])]);
  return [...ids].sort((a, b) => a - b);
}

/** The account of the running process, from passwd under rootfs, else from the OS. */
export function currentAccount(passwd: readonly PasswdEntry[]): PasswdEntry {
  const uid = process.getuid?.() ?? 0;
  const fromFile = passwd.find((entry) => entry.uid === uid);
  if (fromFile) return fromFile;
  const info = userInfo();
  return { name: info.username, uid, gid: process.getgid?.() ?? info.gid, home: info.homedir };
}

/** passwd and group as read now; `problem` says why /etc/passwd could not be read. */
export interface AccountFiles {
  readonly passwd: readonly PasswdEntry[];
  readonly groups: readonly GroupEntry[];
  readonly problem?: string;
}

export async function readAccountFiles(
  roots: HostRoots,
  mounts: MountTable,
): Promise<AccountFiles> {
  const [passwd, groups] = await Promise.all([
    readText(mounts, rootPath(roots, "/etc/passwd")),
    readText(mounts, rootPath(roots, "/etc/group")),
  ]);
  return {
    passwd: passwd.ok ? parsePasswd(passwd.text) : [],
    groups: groups.ok ? parseGroup(groups.text) : [],
    ...(!passwd.ok && { problem: `/etc/passwd: ${passwd.detail}` }),
  };
}

/** The identity of passwd and group together; undefined when either is missing. */
export async function accountFilesIdentity(
  roots: HostRoots,
  mounts: MountTable,
): Promise<string | undefined> {
  const identities = await Promise.all(
    ["/etc/passwd", "/etc/group"].map((path) => fileIdentity(mounts, rootPath(roots, path))),
  );
  return identities.every((i) => i !== undefined) ? JSON.stringify(identities) : undefined;
}

/** login.defs(5): "UID_MIN 1000"; undefined when the file or the key is missing. */
export function parseUidMin(text: string): number | undefined {
  const match = /^\s*UID_MIN\s+(\d{1,10})\s*$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

export async function readUidMin(
  roots: HostRoots,
  mounts: MountTable,
): Promise<number | undefined> {
  const text = await readText(mounts, rootPath(roots, "/etc/login.defs"), 256 * 1024);
  return text.ok ? parseUidMin(text.text) : undefined;
}
