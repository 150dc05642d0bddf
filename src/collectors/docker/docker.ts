import { lstatPath, readTextAsync } from "../../host/files.js";
import { procPath, rootPath } from "../../host/paths.js";
import { mountOf, parseMountinfo } from "../../host/proc-files.js";
import { maxJsonChars, parseBoundedJson } from "../../host/bounded-json.js";
import { unixHttp } from "../../host/unix-http.js";
import { checkUserSocket } from "../../host/user-files.js";
import { userSocketHttp } from "../../host/user-socket.js";
import type { Collector, UserContext } from "../collector.js";
import { idleWith, missingKey, mountKey } from "../inputs.js";
import type { StaticPart } from "../live-inputs.js";
import {
  entryKey,
  entryNow,
  liveWith,
  pathKey,
  runtimeDirKey,
  runtimeNames,
} from "../live-inputs.js";
import { RestartCounter } from "../restarts.js";
import { discovery, hostMounts, runtimeDir as checkedRuntimeDir, walkMemo } from "../scans.js";
import { kept } from "../state.js";
import type { ConfiguredDaemon } from "./docker-config.js";
import { readConfiguredDaemon } from "./docker-config.js";
import type { PidFileState } from "../../host/pid-files.js";
import type { DataRootUsage } from "./data-root.js";
import { readDataRootUsage, spaceOptions, spaceThresholds } from "./data-root.js";
import { type DockerInfo, parseDockerInfo } from "./info.js";

export { type DockerInfo, parseDockerInfo } from "./info.js";

export interface DockerFacts {
  /** Absent when docker.pid could not be read or was refused unread: unknown, not down. */
  readonly dockerdUp?: boolean;
  readonly pidFile: PidFileState;
  readonly dockerdPid?: number;
  /** New dockerd processes (pid and start time) seen since the user was first watched. */
  readonly dockerdRestarts?: number;
  readonly socket: string;
  readonly apiUp: boolean;
  readonly apiError?: string;
  readonly info?: DockerInfo;
  readonly dataRoot?: { readonly path: string; readonly fsType: string };
  /** Space, inodes and d_type under `DockerRootDir`, with the thresholds the checks apply. */
  readonly dataRootUsage?: DataRootUsage;
  /** While dockerd gives no /info: what it would use when it starts (docker-config.ts). */
  readonly configured?: ConfiguredDaemon;
  /** $XDG_RUNTIME_DIR: must exist, belong to the user and be mode 0700 (XDG base dir spec). */
  readonly runtimeDir: {
    readonly path: string;
    /** Absent with `unverified`: whether it exists could not be told. */
    readonly exists?: boolean;
    readonly ownerUid?: number;
    readonly mode?: number;
    /** Why it was not looked at (a symlink, a foreign directory above it, no permission). */
    readonly unverified?: string;
  };
}

/** DOCKER_HOST when it names a unix socket (only for the exporter's own user), else the default. */
export function dockerSocket(runtimeDir: string, dockerHost: string | undefined): string {
  if (dockerHost?.startsWith("unix://")) return dockerHost.slice("unix://".length);
  return `${runtimeDir}/docker.sock`;
}

/** The dockerd processes a user has had, kept while the user is watched. */
const dockerdSeen = kept("docker.dockerd-restarts", () => new RestartCounter());

/** What stays while the same processes run and the same files are there (live-inputs.ts). */
interface DockerStatic {
  readonly base: Omit<DockerFacts, "apiUp">;
  /** docker.pid's dockerd, whose mount namespace holds the data root. */
  readonly pid?: number;
  /** What dockerd would use, while /info does not say: read in a full run without /info. */
  readonly configured?: ConfiguredDaemon;
}

/** The static part of the last full run, for the refreshes after it. */
const lastStatic = kept("docker.static", (): StaticPart<DockerStatic> => ({ part: undefined }));

/** The runtime dir and docker.pid (through the shared discovery). */
async function staticPart(ctx: UserContext): Promise<DockerStatic> {
  const { roots, target, cycle, self, env, note } = ctx;
  const socket = dockerSocket(target.runtimeDir, self ? env["DOCKER_HOST"] : undefined);
  const [runtimeDir, found] = await Promise.all([
    checkedRuntimeDir(cycle, roots, target),
    discovery(ctx),
  ]);
  // The same verdict on docker.pid as the rootlesskit collector's, from the shared discovery.
  const pidFile = found.pidFile;
  const dockerdRestarts = ctx.state.own(dockerdSeen).see(found.dockerd);
  if (pidFile.state !== "ok") note(`docker.pid: ${pidFile.detail}`);
  // A refusal for a directory that is there (someone else's) still tells its owner and mode.
  const dirStats =
    runtimeDir.ok || runtimeDir.state === "foreign_owner" ? runtimeDir.stats : undefined;
  const pidUnknown = pidFile.state === "unreadable" || pidFile.state === "unsafe";
  const pid = pidFile.pid !== undefined && pidFile.state === "ok" ? pidFile.pid : undefined;
  return {
    base: {
      runtimeDir: dirStats
        ? {
            path: target.runtimeDir,
            exists: true,
            ownerUid: dirStats.uid,
            mode: dirStats.mode & 0o7777,
          }
        : !runtimeDir.ok && runtimeDir.state !== "missing"
          ? { path: target.runtimeDir, unverified: runtimeDir.detail }
          : { path: target.runtimeDir, exists: false },
      ...(!pidUnknown && { dockerdUp: pidFile.state === "ok" }),
      pidFile: pidFile.state,
      ...(pid !== undefined && { dockerdPid: pid }),
      dockerdRestarts,
      socket,
    },
    ...(pid !== undefined && { pid }),
  };
}

/**
 * The API (/info, else /_ping) and what /info names (the data root's mount and space); without
 * /info, what the daemon would use (`configured`): from the static part when it has it, read
 * here in a full run (`configured` undefined), else undefined (a full run reads it).
 */
async function livePart(
  ctx: UserContext,
  part: DockerStatic,
  full: boolean,
): Promise<{ facts: DockerFacts; configured?: ConfiguredDaemon } | undefined> {
  const { roots, target, cycle, self, note, rpcTimeoutMs } = ctx;
  const { socket } = part.base;
  const path = rootPath(roots, socket);
  // No socket file, no API: said without a connection. Another user's socket is looked at only
  // as theirs, through their runtime dir checked as theirs (a dir swapped for a symlink into
  // root's directories must not turn ENOTDIR against ENOENT into an oracle).
  const runtimeDirFirst = await checkedRuntimeDir(cycle, roots, target);
  // A real /info is a few KB: a tight cap, and the body is read in bytes, the JSON in characters.
  const infoOptions = {
    timeoutMs: rpcTimeoutMs,
    get signal() {
      return ctx.signal;
    },
    maxBytes: maxJsonChars,
  };
  const socketFile = self
    ? await lstatPath(path)
    : runtimeDirFirst.ok === false
      ? {
          ok: false as const,
          detail:
            runtimeDirFirst.state === "missing"
              ? `${target.runtimeDir} does not exist`
              : `${target.runtimeDir} is not the user's own directory`,
        }
      : // No docker.sock in this cycle's look at the runtime dir: the walk's answer, unwalked.
        (await entryNow(ctx, target.runtimeDir, runtimeNames, "docker.sock", "socket")) ===
          "missing"
        ? { ok: false as const, detail: `${path} does not exist` }
        : await checkUserSocket(path, target.uid, walkMemo(ctx.cycle));
  // DOCKER_HOST (own user only) may name root's socket: the user's own socket rule is for others.
  const infoResult = !socketFile.ok
    ? { ok: false as const, detail: socketFile.detail }
    : self
      ? await unixHttp(path, "/info", infoOptions)
      : await userSocketHttp(path, target.uid, "/info", infoOptions);
  const json =
    infoResult.ok && infoResult.status === 200 ? parseBoundedJson(infoResult.body) : undefined;
  const info = json?.ok ? parseDockerInfo(json.value) : undefined;
  if (!info && !full && part.configured === undefined) return undefined;
  // A valid /info answer is the API answering. Without one, GET /_ping tells an API that is
  // down from one whose /info fails (a request less per cycle in the usual case).
  let apiError: string | undefined;
  if (!info) {
    const infoError = infoResult.ok
      ? `GET /info answered ${infoResult.status} without a valid body${json?.ok === false ? ` (${json.detail})` : ""}`
      : infoResult.detail;
    const options = {
      timeoutMs: rpcTimeoutMs,
      get signal() {
        return ctx.signal;
      },
      maxBytes: 1024,
    };
    const ping = !socketFile.ok
      ? { ok: false as const, detail: socketFile.detail }
      : self
        ? await unixHttp(path, "/_ping", options)
        : await userSocketHttp(path, target.uid, "/_ping", options);
    if (ping.ok && ping.status === 200 && ping.body.trim() === "OK")
      note(`docker API: ${infoError}`);
    else apiError = ping.ok ? `GET /_ping answered ${ping.status}` : ping.detail;
  }
  if (apiError) note(`docker API: ${apiError}`);
  let dataRoot: DockerFacts["dataRoot"];
  if (info?.dockerRootDir) {
    // The daemon's own mount namespace is where its data root lives.
    const where = part.pid !== undefined ? String(part.pid) : "self";
    // The user can grow their mount namespace's table at will: read it off the event loop and
    // bounded (512 KiB, a few thousand mounts: its synchronous parse stays near 20 ms).
    const mountinfo = await readTextAsync(procPath(roots, where, "mountinfo"), 512 * 1024);
    const mount = mountinfo.ok
      ? mountOf(parseMountinfo(mountinfo.text), info.dockerRootDir)
      : undefined;
    if (mount) dataRoot = { path: info.dockerRootDir, fsType: mount.fsType };
  }
  // The daemon names its data root: measured only as a directory of the user's own.
  const dataRootUsage = info?.dockerRootDir
    ? await readDataRootUsage(
        roots,
        target,
        info.dockerRootDir,
        spaceThresholds(ctx.option),
        walkMemo(ctx.cycle),
      )
    : undefined;
  if (dataRootUsage && "unverified" in dataRootUsage)
    note(`data root: ${dataRootUsage.unverified}`);
  const configured = info
    ? undefined
    : (part.configured ??
      (await readConfiguredDaemon(roots, target, walkMemo(ctx.cycle), () =>
        hostMounts(ctx.cycle, roots),
      )));
  return {
    facts: {
      ...part.base,
      apiUp: apiError === undefined,
      ...(apiError && { apiError }),
      ...(info && { info }),
      ...(dataRoot && { dataRoot }),
      ...(dataRootUsage && { dataRootUsage }),
      ...(configured && { configured }),
    },
    ...(configured && { configured }),
  };
}

/** A full run: the static part found again (and kept), then the live part. */
async function collect(ctx: UserContext): Promise<DockerFacts> {
  const keep = ctx.state.own(lastStatic);
  keep.part = undefined;
  const part = await staticPart(ctx);
  const live = await livePart(ctx, part, true);
  if (!live) throw new Error("docker: a full run without its live part");
  // Not a spread copy `{ ...part }`: V8 gave each a hidden class (docs/performance.md "heap2").
  const [{ base, pid }, { configured }] = [part, live];
  keep.part = configured ? { base, ...(pid !== undefined && { pid }), configured } : part;
  return live.facts;
}

export const dockerCollector: Collector<DockerFacts> = {
  name: "docker",
  description: "the rootless dockerd: pid file, API on docker.sock, info, containers, data root",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  options: spaceOptions,
  // No daemon, no daemon.json, no data root: the defaults, on the mount that would hold the data
  // root. Running: the same processes, runtime dir and docker.pid keep the pid file's verdict,
  // and the same daemon.json and data root what dockerd would use; the API is re-read.
  inputs: async (ctx, again) => {
    const { home, runtimeDir } = ctx.target;
    const daemonJson = `${home}/.config/docker/daemon.json`;
    const dataRoot = `${home}/.local/share/docker`;
    const idle = await idleWith(
      ctx,
      () => missingKey(ctx, daemonJson, "file", again),
      () => missingKey(ctx, dataRoot, "directory", again),
      () => mountKey(ctx.cycle, ctx.roots, dataRoot),
    );
    if (idle !== undefined) return idle;
    const part = ctx.state.own(lastStatic).part;
    if (!part) return undefined;
    const configured = part.configured?.dataRoot;
    return liveWith(
      ctx,
      () => runtimeDirKey(ctx, again),
      () => entryKey(ctx, runtimeDir, runtimeNames, "docker.pid", "file", again),
      () => pathKey(ctx, daemonJson, "file", again),
      // The graph drivers' directories found in it: its entries, so its times are keyed too.
      () => pathKey(ctx, dataRoot, "directory", again, true),
      () => mountKey(ctx.cycle, ctx.roots, dataRoot),
      ...(configured === undefined || configured === dataRoot
        ? []
        : [
            () => pathKey(ctx, configured, "directory", again, true),
            () => mountKey(ctx.cycle, ctx.roots, configured),
          ]),
    );
  },
  collect,
  async refresh(ctx, last) {
    // No runtime dir (an idle user's key): no socket, nothing live to ask.
    const dir = await checkedRuntimeDir(ctx.cycle, ctx.roots, ctx.target);
    if (!dir.ok && dir.state === "missing" && last.runtimeDir.exists === false) return last;
    const part = ctx.state.own(lastStatic).part;
    const live = part && (await livePart(ctx, part, false));
    // /info gone since the full run, which then read no daemon.json: a full run reads it.
    return live ? live.facts : collect(ctx);
  },
};
