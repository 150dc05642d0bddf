import { lstatPath, readTextAsync } from "../../host/files.js";
import { procPath, rootPath } from "../../host/paths.js";
import { mountOf, parseMountinfo } from "../../host/proc-files.js";
import { maxJsonChars, parseBoundedJson } from "../../host/bounded-json.js";
import { unixHttp } from "../../host/unix-http.js";
import { checkUserSocket } from "../../host/user-files.js";
import { userSocketHttp } from "../../host/user-socket.js";
import type { Collector } from "../collector.js";
import { idleWith, missingKey, mountKey } from "../inputs.js";
import { RestartCounter } from "../restarts.js";
import { discovery, hostMounts, runtimeDir as checkedRuntimeDir, walkMemo } from "../scans.js";
import { kept } from "../state.js";
import type { ConfiguredDaemon } from "./docker-config.js";
import { readConfiguredDaemon } from "./docker-config.js";
import type { PidFileState } from "../../host/pid-files.js";
import type { DataRootUsage } from "./data-root.js";
import { readDataRootUsage, spaceOptions, spaceThresholds } from "./data-root.js";
import type { DockerWarnings } from "./warnings.js";
import { parseWarnings } from "./warnings.js";

export interface DockerInfo {
  readonly version?: string;
  readonly storageDriver?: string;
  readonly cgroupDriver?: string;
  readonly cgroupVersion?: string;
  readonly rootless: boolean;
  readonly containers: {
    readonly running: number;
    readonly paused: number;
    readonly stopped: number;
  };
  readonly dockerRootDir?: string;
  /** `Warnings`, mapped to closed ids; absent when /info has no such list (unknown, not none). */
  readonly warnings?: DockerWarnings;
}

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

const str = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;
const count = (value: unknown): number => (typeof value === "number" && value >= 0 ? value : 0);

/** GET /info of the Docker Engine API; undefined unless it is an object. */
export function parseDockerInfo(body: unknown): DockerInfo | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const info = body as Record<string, unknown>;
  const security = Array.isArray(info["SecurityOptions"]) ? info["SecurityOptions"] : [];
  const fields = {
    version: str(info["ServerVersion"]),
    storageDriver: str(info["Driver"]),
    cgroupDriver: str(info["CgroupDriver"]),
    cgroupVersion: str(info["CgroupVersion"]),
    dockerRootDir: str(info["DockerRootDir"]),
  };
  const warnings = parseWarnings(info["Warnings"]);
  return {
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
    ...(warnings && { warnings }),
    rootless: security.some((option) => option === "name=rootless"),
    containers: {
      running: count(info["ContainersRunning"]),
      paused: count(info["ContainersPaused"]),
      stopped: count(info["ContainersStopped"]),
    },
  };
}

/** DOCKER_HOST when it names a unix socket (only for the exporter's own user), else the default. */
export function dockerSocket(runtimeDir: string, dockerHost: string | undefined): string {
  if (dockerHost?.startsWith("unix://")) return dockerHost.slice("unix://".length);
  return `${runtimeDir}/docker.sock`;
}

/** The dockerd processes a user has had, kept while the user is watched. */
const dockerdSeen = kept("docker.dockerd-restarts", () => new RestartCounter());

export const dockerCollector: Collector<DockerFacts> = {
  name: "docker",
  description: "the rootless dockerd: pid file, API on docker.sock, info, containers, data root",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  options: spaceOptions,
  // No daemon, no daemon.json, no data root: the defaults, on the mount that would hold the data root.
  inputs: (ctx, again) =>
    idleWith(
      ctx,
      () => missingKey(ctx, `${ctx.target.home}/.config/docker/daemon.json`, "file", again),
      () => missingKey(ctx, `${ctx.target.home}/.local/share/docker`, "directory", again),
      () => mountKey(ctx.cycle, ctx.roots, `${ctx.target.home}/.local/share/docker`),
    ),
  async collect(ctx) {
    const { roots, target, cycle, self, env, note, rpcTimeoutMs, signal } = ctx;
    const socket = dockerSocket(target.runtimeDir, self ? env["DOCKER_HOST"] : undefined);
    const path = rootPath(roots, socket);
    // No socket file, no API: said without a connection (most users of a host have no daemon).
    // Another user's socket is looked at only as theirs, through their runtime dir checked as
    // theirs: a dir swapped for a symlink into root's directories after its check must not turn
    // ENOTDIR against ENOENT into an oracle. The request checks the socket again.
    const runtimeDirFirst = await checkedRuntimeDir(cycle, roots, target);
    // A real /info is a few KB: a tight cap, and the body is read in bytes, the JSON in characters.
    const infoOptions = { timeoutMs: rpcTimeoutMs, signal, maxBytes: maxJsonChars };
    let dockerdRestarts = 0;
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
        : await checkUserSocket(path, target.uid, walkMemo(ctx.cycle));
    const [runtimeDir, pidFile, infoResult] = await Promise.all([
      Promise.resolve(runtimeDirFirst),
      // The same verdict on docker.pid as the rootlesskit collector's, from the shared discovery.
      discovery(ctx).then((found) => {
        dockerdRestarts = ctx.state.own(dockerdSeen).see(found.dockerd);
        return found.pidFile;
      }),
      // DOCKER_HOST (own user only) may name root's socket: the user's own socket rule is for others.
      !socketFile.ok
        ? Promise.resolve({ ok: false as const, detail: socketFile.detail })
        : self
          ? unixHttp(path, "/info", infoOptions)
          : userSocketHttp(path, target.uid, "/info", infoOptions),
    ]);
    if (pidFile.state !== "ok") note(`docker.pid: ${pidFile.detail}`);
    const json =
      infoResult.ok && infoResult.status === 200 ? parseBoundedJson(infoResult.body) : undefined;
    const info = json?.ok ? parseDockerInfo(json.value) : undefined;
    // A valid /info answer is the API answering. Without one, GET /_ping tells an API that is
    // down from one whose /info fails (a request less per cycle in the usual case).
    let apiError: string | undefined;
    if (!info) {
      const infoError = infoResult.ok
        ? `GET /info answered ${infoResult.status} without a valid body${json?.ok === false ? ` (${json.detail})` : ""}`
        : infoResult.detail;
      const options = { timeoutMs: rpcTimeoutMs, signal, maxBytes: 1024 };
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
    const apiUp = apiError === undefined;
    let dataRoot: DockerFacts["dataRoot"];
    if (info?.dockerRootDir) {
      // The daemon's own mount namespace is where its data root lives.
      const where =
        pidFile.pid !== undefined && pidFile.state === "ok" ? String(pidFile.pid) : "self";
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
    // A refusal for a directory that is there (someone else's) still tells its owner and mode.
    const dirStats =
      runtimeDir.ok || runtimeDir.state === "foreign_owner" ? runtimeDir.stats : undefined;
    const pidUnknown = pidFile.state === "unreadable" || pidFile.state === "unsafe";
    const configured = info
      ? undefined
      : await readConfiguredDaemon(roots, target, walkMemo(ctx.cycle), () =>
          hostMounts(ctx.cycle, roots),
        );
    return {
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
      ...(pidFile.pid !== undefined && pidFile.state === "ok" && { dockerdPid: pidFile.pid }),
      dockerdRestarts,
      socket,
      apiUp,
      ...(apiError && { apiError }),
      ...(info && { info }),
      ...(dataRoot && { dataRoot }),
      ...(dataRootUsage && { dataRootUsage }),
      ...(configured && { configured }),
    };
  },
};
