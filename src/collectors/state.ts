import { DbusPool } from "../host/dbus-pool.js";
import type { Credentials } from "../host/dbus.js";
import type { HostRoots } from "../host/paths.js";
import { ArgvCache, bootTime } from "../host/proc.js";
import { ProcessTable } from "../host/process-table.js";
import type { Target } from "../host/target.js";
import type { DiscoveryMemory, HostScans, RootlessProcesses } from "../host/discovery.js";
import { discoverRootless, scanTmpStateDirs } from "../host/discovery.js";
import type { SubidIndex } from "./subid/subid.js";
import { subidIndex } from "./subid/subid.js";
import { lingerDir } from "./linger/linger.js";
import type { ListResult } from "../host/files.js";
import { listDir } from "../host/files.js";
import { rootPath } from "../host/paths.js";
import type { UserStat } from "../host/user-files.js";
import { statUserPath } from "../host/user-files.js";
import type { ApiAnswer, ApiOptions, RootlesskitInfo } from "./rootlesskit/rootlesskit-api.js";
import { parseInfo, queryApi } from "./rootlesskit/rootlesskit-api.js";

/*
 * Shared state, by who owns it (ARCHITECTURE.md, "State"): the exporter owns a HostState for its
 * whole life, each watched user a TargetState for as long as the user is watched, and each
 * collection cycle a Cycle memo that is dropped when the cycle ends. Nothing else outlives a run.
 */

/** What outlives a cycle and belongs to the host: the system bus, file-identity caches. */
export class HostState {
  /** logind's system bus, one connection for every user's linger. */
  readonly systemBus = new DbusPool();
  /** getcap answers by file identity: a change of capabilities changes the file's ctime. */
  readonly capabilities = new Map<string, { readonly identity: string; readonly has: boolean }>();
  /** The last parse of /etc/subuid and /etc/subgid (with /etc/passwd), by the files' identities. */
  subid: { readonly key: string; readonly index: SubidIndex } | undefined;
  /** A throughput probe is running (for any user): one at a time on the host. */
  probeRunning = false;
  private boot: number | undefined;

  /** Boot time is fixed until the next boot, and /proc/stat grows with the CPU count: read once. */
  async bootTime(roots: HostRoots): Promise<number | undefined> {
    this.boot ??= await bootTime(roots);
    return this.boot;
  }

  stop(): void {
    this.systemBus.closeAll();
  }
}

/** What outlives a cycle and belongs to one watched user; released when the user goes away. */
export class TargetState implements DiscoveryMemory {
  readonly argv = new ArgvCache(16);
  heldStateDir: DiscoveryMemory["heldStateDir"];
  /** The network driver found for a rootlesskit parent, by the parent's pid and start time. */
  knownDriver:
    { readonly key: string; readonly pid: number; readonly startTicks: number } | undefined;
  /** The user's own bus, connected with the user's credentials when the exporter is root. */
  readonly userBus: DbusPool;

  constructor(credentials: Credentials | undefined) {
    this.userBus = new DbusPool(credentials);
  }

  stop(): void {
    this.userBus.closeAll();
  }
}

/**
 * One collection cycle's memo, handed to every collector of the cycle: one /proc scan for all
 * users, one discovery and one GET /v1/info per user, filled on first use. Sharing is by
 * construction (the same object), never by two callers happening to ask within some window.
 */
export class Cycle implements HostScans {
  private table: Promise<ProcessTable> | undefined;
  private tmpDirs: Promise<ReadonlyMap<number, string>> | undefined;
  private subids: Promise<SubidIndex> | undefined;
  private lingerList: Promise<ListResult> | undefined;
  private readonly discoveries = new Map<number, Promise<RootlessProcesses>>();
  private readonly runtimeDirs = new Map<number, Promise<UserStat>>();
  private readonly infos = new Map<string, Promise<ApiAnswer<RootlesskitInfo>>>();

  constructor(
    readonly roots: HostRoots,
    readonly host: HostState,
    /** The owners whose processes the scan reads the comm of: the users this cycle may watch. */
    private readonly watched: (uid: number) => boolean,
  ) {}

  processes = (): Promise<ProcessTable> =>
    (this.table ??= ProcessTable.scan(this.roots, this.watched));

  tmpStateDirs = (): Promise<ReadonlyMap<number, string>> =>
    (this.tmpDirs ??= scanTmpStateDirs(this.roots));

  /** /etc/subuid and /etc/subgid, checked for changes once a cycle for every user. */
  subidIndex = (): Promise<SubidIndex> => (this.subids ??= subidIndex(this.roots, this.host));

  /** The names in logind's linger directory, listed once a cycle for every user. */
  lingering = (): Promise<ListResult> =>
    (this.lingerList ??= listDir(rootPath(this.roots, lingerDir)));

  /** The user's runtime dir, checked as the user's, once a cycle for every collector. */
  runtimeDir = (target: Target): Promise<UserStat> => {
    let stat = this.runtimeDirs.get(target.uid);
    if (!stat) {
      stat = statUserPath(rootPath(this.roots, target.runtimeDir), target.uid, "directory");
      this.runtimeDirs.set(target.uid, stat);
    }
    return stat;
  };

  discovery(target: Target, state: TargetState): Promise<RootlessProcesses> {
    let found = this.discoveries.get(target.uid);
    if (!found) {
      found = discoverRootless(this.roots, target, this, state);
      this.discoveries.set(target.uid, found);
    }
    return found;
  }

  /**
   * GET /v1/info on the state dir's api.sock, once per cycle and user: by the state dir alone,
   * a user naming another's state dir first had their refusal handed to its owner.
   */
  rootlesskitInfo(stateDir: string, options: ApiOptions): Promise<ApiAnswer<RootlesskitInfo>> {
    const key = `${options.ownerUid ?? "self"}\0${stateDir}`;
    let answer = this.infos.get(key);
    if (!answer) {
      answer = queryApi(this.roots, stateDir, "/v1/info", parseInfo, options);
      this.infos.set(key, answer);
    }
    return answer;
  }
}
