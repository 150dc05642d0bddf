import { isRootlesskitComm } from "../../host/discovery.js";
import { lingering } from "../../collectors/linger/linger.js";
import { processes } from "../../collectors/scans.js";
import type { Cycle, HostState } from "../../collectors/state.js";
import { subidIndex } from "../../collectors/subid/subid.js";
import type { GroupEntry, PasswdEntry } from "../../host/accounts.js";
import { currentAccount, groupsOf, parseGroup, parsePasswd } from "../../host/accounts.js";
import {
  fileIdentity,
  listDir,
  readKernelText,
  readText,
  readTextAsync,
} from "../../host/files.js";
import type { HostRoots } from "../../host/paths.js";
import { procPath, rootPath } from "../../host/paths.js";
import { statUserPath } from "../../host/user-files.js";
import { parseProcStat } from "../../host/proc.js";
import type { Target } from "../../host/target.js";
import { TargetError } from "../../host/target.js";
import type { TargetSource } from "./roster.js";

/** Who the exporter watches: itself, the users named by --target.user, or the whole host. */
export type TargetMode =
  | { readonly kind: "self" }
  | { readonly kind: "listed"; readonly users: readonly string[] }
  | { readonly kind: "host"; readonly minUid: number; readonly exclude: readonly string[] };

/** The mode a configuration asks for: host mode is root with no --target.user. */
export function targetMode(
  options: {
    readonly users: readonly string[];
    readonly exclude: readonly string[];
    readonly minUid: number | undefined;
  },
  uid: number,
  loginDefsUidMin: number | undefined,
): TargetMode {
  if (options.users.length > 0) return { kind: "listed", users: options.users };
  if (uid !== 0) return { kind: "self" };
  return {
    kind: "host",
    minUid: options.minUid ?? loginDefsUidMin ?? 1000,
    exclude: options.exclude,
  };
}

/** login.defs(5): "UID_MIN 1000"; undefined when the file or the key is missing. */
export function parseUidMin(text: string): number | undefined {
  const match = /^\s*UID_MIN\s+(\d{1,10})\s*$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

export async function readUidMin(roots: HostRoots): Promise<number | undefined> {
  const text = await readText(rootPath(roots, "/etc/login.defs"), 256 * 1024);
  return text.ok ? parseUidMin(text.text) : undefined;
}

interface Accounts {
  readonly passwd: readonly PasswdEntry[];
  readonly groups: readonly GroupEntry[];
  /** Why /etc/passwd could not be read, when it could not. */
  readonly problem?: string;
}

/** A login name or a uid in the passwd list. */
function findAccount(passwd: readonly PasswdEntry[], spec: string): PasswdEntry | undefined {
  return (
    passwd.find((entry) => entry.name === spec) ??
    (/^\d+$/.test(spec) ? passwd.find((entry) => entry.uid === Number(spec)) : undefined)
  );
}

/**
 * The users to watch, resolved at the start of every cycle. passwd and group are parsed again
 * only when one changes; a rootlesskit's runtime dir is read once per process (pid + start time).
 */
export class Targets implements TargetSource {
  private accountsCache: { readonly key: string; readonly accounts: Accounts } | undefined;
  private readonly runtimeDirs = new Map<string, string | undefined>();
  private readonly listedUids: ReadonlySet<number>;

  private constructor(
    private readonly roots: HostRoots,
    readonly mode: TargetMode,
    private readonly env: NodeJS.ProcessEnv,
    private readonly selfUid: number,
    listedUids: readonly number[],
  ) {
    this.listedUids = new Set(listedUids);
  }

  /** Checks the named users exist (a usage error otherwise) and sets up the mode. */
  static async create(
    roots: HostRoots,
    options: {
      readonly users: readonly string[];
      readonly exclude: readonly string[];
      readonly minUid: number | undefined;
    },
    env: NodeJS.ProcessEnv,
    uid = process.getuid?.() ?? 0,
  ): Promise<Targets> {
    const mode = targetMode(options, uid, await readUidMin(roots));
    const { passwd } = await readAccounts(roots);
    const listed: number[] = [];
    if (mode.kind === "listed") {
      for (const spec of mode.users) {
        const found = findAccount(passwd, spec);
        if (!found) throw new TargetError(`no user "${spec}" in /etc/passwd`);
        listed.push(found.uid);
      }
    }
    return new Targets(roots, mode, env, uid, listed);
  }

  readonly wants = (uid: number): boolean => {
    switch (this.mode.kind) {
      case "self":
        return uid === this.selfUid;
      case "listed":
        return this.listedUids.has(uid);
      case "host":
        return uid >= this.mode.minUid;
    }
  };

  async resolve(cycle: Cycle, host: HostState): Promise<readonly Target[]> {
    const { passwd, groups, problem } = await this.accounts();
    // Without passwd nobody can be named: keep watching whom we watched (the scheduler does).
    if (problem !== undefined && this.mode.kind !== "self") throw new Error(problem);
    const target = (account: PasswdEntry, runtimeDir: string): Target => ({
      ...account,
      groups: groupsOf(account, groups),
      runtimeDir,
    });
    if (this.mode.kind === "self") {
      const self = currentAccount(passwd);
      const own = this.env["XDG_RUNTIME_DIR"];
      return [target(self, own && own.length > 0 ? own : `/run/user/${self.uid}`)];
    }
    if (this.mode.kind === "listed") {
      const found: Target[] = [];
      for (const spec of this.mode.users) {
        // A listed user deleted since the start is simply not watched any more.
        const account = findAccount(passwd, spec);
        if (!account) continue;
        const own = account.uid === this.selfUid ? this.env["XDG_RUNTIME_DIR"] : undefined;
        found.push(
          target(account, own && own.length > 0 ? own : await this.runtimeDirOf(account, cycle)),
        );
      }
      return found;
    }
    return this.hostTargets(cycle, host, passwd, target);
  }

  /** Host mode: every user with subordinate IDs, linger, a /run/user/UID or a running rootlesskit. */
  private async hostTargets(
    cycle: Cycle,
    host: HostState,
    passwd: readonly PasswdEntry[],
    target: (account: PasswdEntry, runtimeDir: string) => Target,
  ): Promise<Target[]> {
    const mode = this.mode;
    if (mode.kind !== "host") return [];
    const byUid = new Map<number, PasswdEntry>();
    const byName = new Map<string, PasswdEntry>();
    for (const entry of passwd) {
      if (!byUid.has(entry.uid)) byUid.set(entry.uid, entry);
      byName.set(entry.name, entry);
    }
    const candidates = new Set<number>();
    const index = await subidIndex(cycle, this.roots, host);
    for (const file of [index.uid, index.gid]) {
      for (const owner of file.byOwner.keys()) {
        const uid = typeof owner === "number" ? owner : byName.get(owner)?.uid;
        if (uid !== undefined) candidates.add(uid);
      }
    }
    const lingers = await lingering(cycle, this.roots);
    for (const name of lingers.ok ? lingers.names : []) {
      const uid = byName.get(name)?.uid;
      if (uid !== undefined) candidates.add(uid);
    }
    const runDirs = await listDir(rootPath(this.roots, "/run/user"));
    for (const name of runDirs.ok ? runDirs.names : [])
      if (/^\d{1,10}$/.test(name)) candidates.add(Number(name));
    for (const uid of (await processes(cycle, this.roots)).owners(isRootlesskitComm))
      candidates.add(uid);

    const excluded = new Set(mode.exclude);
    const found: Target[] = [];
    for (const uid of [...candidates].sort((a, b) => a - b)) {
      const account = byUid.get(uid);
      if (!account || uid < mode.minUid) continue;
      if (excluded.has(account.name) || excluded.has(String(uid))) continue;
      found.push(target(account, await this.runtimeDirOf(account, cycle)));
    }
    return found;
  }

  /**
   * /run/user/UID, or the XDG_RUNTIME_DIR the user's own rootlesskit was started with when it runs
   * elsewhere: provided that directory is a real directory (no symlink) owned by the user, since
   * the user chose the value and must not point the exporter at another user's files.
   */
  private async runtimeDirOf(account: PasswdEntry, cycle: Cycle): Promise<string> {
    const standard = `/run/user/${account.uid}`;
    const pids = (await processes(cycle, this.roots)).named(account.uid, isRootlesskitComm);
    const pid = pids[0];
    if (pid === undefined) return standard;
    const stat = await readKernelText(procPath(this.roots, String(pid), "stat"));
    const parsed = stat.ok ? parseProcStat(stat.text) : undefined;
    if (!parsed) return standard;
    const key = `${pid}\0${parsed.startTicks}`;
    if (!this.runtimeDirs.has(key)) {
      if (this.runtimeDirs.size > 4096) this.runtimeDirs.clear();
      this.runtimeDirs.set(key, await environRuntimeDir(this.roots, pid));
    }
    const dir = this.runtimeDirs.get(key);
    // Plain characters only: the path ends up in a D-Bus address and in labels.
    if (dir === undefined || dir === standard || !plainPath.test(dir)) return standard;
    // Checked as a tree the user controls: no symlink on the way, a directory of theirs.
    const info = await statUserPath(rootPath(this.roots, dir), account.uid, "directory");
    return info.ok && info.stats.uid === account.uid ? dir : standard;
  }

  private async accounts(): Promise<Accounts> {
    const identities = await Promise.all(
      ["/etc/passwd", "/etc/group"].map((path) => fileIdentity(rootPath(this.roots, path))),
    );
    const key = JSON.stringify(identities);
    if (this.accountsCache?.key === key) return this.accountsCache.accounts;
    const accounts = await readAccounts(this.roots);
    this.accountsCache = identities.every((i) => i !== undefined) ? { key, accounts } : undefined;
    return accounts;
  }
}

/** An absolute path of plain characters, without "." or ".." components. */
const plainPath = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9_.@+-]+)+$/;

async function readAccounts(roots: HostRoots): Promise<Accounts> {
  const [passwd, groups] = await Promise.all([
    readText(rootPath(roots, "/etc/passwd")),
    readText(rootPath(roots, "/etc/group")),
  ]);
  return {
    passwd: passwd.ok ? parsePasswd(passwd.text) : [],
    groups: groups.ok ? parseGroup(groups.text) : [],
    ...(!passwd.ok && { problem: `/etc/passwd: ${passwd.detail}` }),
  };
}

/** XDG_RUNTIME_DIR in a process's environment (root reads any; the value is the user's). */
async function environRuntimeDir(roots: HostRoots, pid: number): Promise<string | undefined> {
  const text = await readTextAsync(procPath(roots, String(pid), "environ"), 256 * 1024);
  if (!text.ok) return undefined;
  const entry = text.text.split("\0").find((e) => e.startsWith("XDG_RUNTIME_DIR="));
  const value = entry?.slice("XDG_RUNTIME_DIR=".length);
  return value && value.length > 0 && value.length < 4096 ? value : undefined;
}
