import { lingering } from "../collectors/linger/linger.js";
import { processes } from "../collectors/scans.js";
import type { Cycle, HostState } from "../collectors/state.js";
import { subidIndex } from "../collectors/subid/subid.js";
import type { AccountFiles, PasswdEntry } from "../host/accounts.js";
import {
  accountFilesIdentity,
  currentAccount,
  groupsOf,
  memberships,
  readAccountFiles,
  readUidMin,
} from "../host/accounts.js";
import { isRootlesskitComm } from "../host/discovery.js";
import { MountTable } from "../host/mount-table.js";
import type { HostRoots } from "../host/paths.js";
import { rootPath } from "../host/paths.js";
import { environRuntimeDir, processStartTicks, runUserUids } from "../host/runtime-dirs.js";
import { statUserPath } from "../host/user-files.js";
import type { Target } from "../host/target.js";
import { TargetError } from "../host/target.js";

/** Who is watched: resolved at the start of every cycle (users come and go). */
export interface TargetSource {
  /** Whether the processes of `uid` may belong to a watched user (what the process scan reads). */
  readonly wants: (uid: number) => boolean;
  readonly resolve: (cycle: Cycle, host: HostState) => Promise<readonly Target[]>;
}

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
  private accountsCache: { readonly key: string; readonly accounts: AccountFiles } | undefined;
  private readonly runtimeDirs = new Map<string, string | undefined>();
  private readonly listedUids: ReadonlySet<number>;

  private constructor(
    private readonly roots: HostRoots,
    private readonly mounts: MountTable,
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
    mounts: MountTable = new MountTable(),
  ): Promise<Targets> {
    const mode = targetMode(options, uid, await readUidMin(roots, mounts));
    const { passwd } = await readAccountFiles(roots, mounts);
    const listed: number[] = [];
    if (mode.kind === "listed") {
      for (const spec of mode.users) {
        const found = findAccount(passwd, spec);
        if (!found) throw new TargetError(`no user "${spec}" in /etc/passwd`);
        listed.push(found.uid);
      }
    }
    return new Targets(roots, mounts, mode, env, uid, listed);
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
    const byMember = memberships(groups);
    // One literal, not a spread: V8 gave each spread copy a hidden class of its own (~150 bytes a
    // watched user, and new ones each cycle; docs/performance.md#memory).
    const target = (account: PasswdEntry, runtimeDir: string): Target => ({
      name: account.name,
      uid: account.uid,
      gid: account.gid,
      home: account.home,
      groups: groupsOf(account, byMember),
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
    const lingers = await lingering(cycle, this.roots, this.mounts);
    for (const name of lingers.ok ? lingers.names : []) {
      const uid = byName.get(name)?.uid;
      if (uid !== undefined) candidates.add(uid);
    }
    for (const uid of await runUserUids(this.roots, this.mounts)) candidates.add(uid);
    for (const uid of (await processes(cycle, this.roots)).owners(isRootlesskitComm))
      candidates.add(uid);

    const excluded = new Set(mode.exclude);
    const found: Target[] = [];
    let done = 0;
    for (const uid of [...candidates].sort((a, b) => a - b)) {
      // What runtimeDirOf reads is mostly memoized or synchronous (procfs): the awaits below
      // resolve at once, and 10,000 users were one 561 ms block. The event loop is let in.
      if (++done % usersPerTurn === 0) await new Promise((resolve) => setImmediate(resolve));
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
    const own = (await processes(cycle, this.roots)).of(account.uid);
    const found = own.find((p) => isRootlesskitComm(p.comm));
    if (found === undefined) return standard;
    const { pid } = found;
    // The start time the cycle's process table read from the same stat file (its scan began
    // this cycle, before the roster): the process every collector of the cycle sees. Read again
    // only when the table could read just comm.
    const startTicks = found.startTicks ?? (await processStartTicks(this.roots, pid));
    if (startTicks === undefined) return standard;
    const key = `${pid}\0${startTicks}`;
    if (!this.runtimeDirs.has(key)) {
      const dir = await environRuntimeDir(this.roots, pid);
      // The environment is that process's only if the pid still has that start time after it
      // was read (a pid reused since the scan, or meanwhile, is not taken for it).
      if ((await processStartTicks(this.roots, pid)) !== startTicks) return standard;
      if (this.runtimeDirs.size > 4096) this.runtimeDirs.clear();
      this.runtimeDirs.set(key, dir);
    }
    const dir = this.runtimeDirs.get(key);
    // Plain characters only: the path ends up in a D-Bus address and in labels.
    if (dir === undefined || dir === standard || !plainPath.test(dir)) return standard;
    // Checked as a tree the user controls: no symlink on the way, a directory of theirs.
    const info = await statUserPath(rootPath(this.roots, dir), account.uid, "directory");
    return info.ok && info.stats.uid === account.uid ? dir : standard;
  }

  private async accounts(): Promise<AccountFiles> {
    const key = await accountFilesIdentity(this.roots, this.mounts);
    if (key !== undefined && this.accountsCache?.key === key) return this.accountsCache.accounts;
    const accounts = await readAccountFiles(this.roots, this.mounts);
    this.accountsCache = key !== undefined ? { key, accounts } : undefined;
    return accounts;
  }
}

/** Users resolved between two turns of the event loop in host mode (~20 µs each). */
const usersPerTurn = 128;

/** An absolute path of plain characters, without "." or ".." components. */
const plainPath = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9_.@+-]+)+$/;
