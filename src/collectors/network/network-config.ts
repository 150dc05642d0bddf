import { exists } from "../../host/files.js";
import type { MountTable } from "../../host/mount-table.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import { rootlesskitBoolFlag } from "../../host/proc-parsers.js";
import { statUserPath } from "../../host/user-files.js";
import type { DockerUnitEnvironment, DockerUnitRefused } from "../docker-unit.js";
import { readDockerUnit } from "../docker-unit.js";

/**
 * The network a rootless dockerd that is not running would get, as dockerd-rootless.sh decides
 * it: DOCKERD_ROOTLESS_ROOTLESSKIT_NET, _MTU and _PORT_DRIVER from the user's docker.service (and
 * its drop-ins), else slirp4netns when installed (MTU 65520), else vpnkit (MTU 1500), and the
 * builtin port driver. Only for a user who has the unit: without it there is no daemon to judge.
 */
export interface ConfiguredNetwork {
  readonly unitFile: string;
  readonly driver?: string;
  readonly mtu?: number;
  readonly portDriver: string;
  /**
   * The unit file whose `DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS` hold `--detach-netns`: every
   * dockerd-rootless.sh passes those flags to rootlesskit. (`_DETACH_NETNS` is left out: only
   * the Docker 29.5 script reads it, and that script comes with a dockerd that supports the mode.)
   */
  readonly detachNetns?: string;
  /** Where each value came from: a unit file, or "dockerd-rootless.sh's default". */
  readonly sources: Readonly<Record<"driver" | "mtu" | "portDriver", string>>;
}

/** The source of a setting nobody configured: what dockerd-rootless.sh does by itself. */
export type ScriptDefault = "dockerd-rootless.sh's default";
export const scriptDefault: ScriptDefault = "dockerd-rootless.sh's default";

const binDirs = ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"];

async function installed(
  roots: HostRoots,
  mounts: MountTable,
  name: string,
  target: Target,
): Promise<boolean> {
  for (const dir of binDirs) {
    if (await exists(mounts, rootPath(roots, `${dir}/${name}`))) return true;
  }
  // The user's ~/bin is theirs to fill: its entry is looked at, a symlink there not followed.
  const own = await statUserPath(rootPath(roots, `${target.home}/bin/${name}`), target.uid, "file");
  return own.ok || own.state === "symlink";
}

export async function readConfiguredNetwork(
  roots: HostRoots,
  mounts: MountTable,
  target: Target,
  unitRead: Promise<DockerUnitEnvironment | DockerUnitRefused | undefined> = readDockerUnit(
    roots,
    target,
  ),
): Promise<ConfiguredNetwork | undefined> {
  const unit = await unitRead;
  if (!unit || "refusedUnit" in unit) return undefined;
  const { unitFile, env } = unit;
  const net = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_NET");
  const mtu = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_MTU");
  const port = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER");
  const flags = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS");
  // The script puts them before its own path: all of them are rootlesskit's.
  const detach =
    flags &&
    rootlesskitBoolFlag(
      ["rootlesskit", ...flags.value.split(/\s+/).filter(Boolean)],
      "detach-netns",
    );
  let driver = net?.value || undefined;
  if (!driver) {
    if (await installed(roots, mounts, "slirp4netns", target)) driver = "slirp4netns";
    else if (await installed(roots, mounts, "vpnkit", target)) driver = "vpnkit";
  }
  const mtuValue =
    mtu?.value && /^\d{1,6}$/.test(mtu.value)
      ? Number(mtu.value)
      : !net?.value && driver === "slirp4netns"
        ? 65520
        : 1500;
  return {
    unitFile,
    ...(driver !== undefined && { driver }),
    mtu: mtuValue,
    portDriver: port?.value || "builtin",
    ...(detach && { detachNetns: flags.file }),
    sources: {
      driver: net?.value ? net.file : scriptDefault,
      mtu: mtu?.value ? mtu.file : scriptDefault,
      portDriver: port?.value ? port.file : scriptDefault,
    },
  };
}
