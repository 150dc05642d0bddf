import { exists, filesystemType, readKernelText } from "../../host/files.js";
import type { MountTable } from "../../host/mount-table.js";
import { sysPath } from "../../host/paths.js";
import type { Collector } from "../collector.js";

/** The controllers rootless Docker cares about (Docker docs, "Limiting resources"). */
export const watchedControllers = ["cpu", "cpuset", "io", "memory", "pids"] as const;
export type Controller = (typeof watchedControllers)[number];

const cgroup2Magic = 0x63677270;
const cgroup1Magic = 0x27e0eb;

export interface CgroupFacts {
  /** 2 on a pure unified hierarchy, 1 on v1 or hybrid; absent when /sys/fs/cgroup is not there. */
  readonly version?: 1 | 2;
  /** How the version was learned: the filesystem type, or the files of a fixture tree. */
  readonly versionSource?: "statfs" | "files";
  /** user@UID.service's cgroup.controllers; absent when the file is absent (v1, no user manager). */
  readonly delegated?: readonly string[];
  readonly delegationPath: string;
}

/** cgroup.controllers is one line of space-separated names. */
export function parseControllers(text: string): string[] {
  return text.split(/\s+/).filter((name) => /^[a-z_]+$/.test(name));
}

/**
 * A version from the filesystem type of /sys/fs/cgroup, as runc and systemd decide it. A tmpfs is
 * v1 or hybrid on a real host but could be a fixture on a tmpfs /tmp, so it is left to the files.
 */
export function versionFromFsType(type: number): 1 | 2 | undefined {
  if (type === cgroup2Magic) return 2;
  if (type === cgroup1Magic) return 1;
  return undefined;
}

async function detectVersion(
  mounts: MountTable,
  root: string,
): Promise<Pick<CgroupFacts, "version" | "versionSource">> {
  const type = await filesystemType(mounts, root);
  if (type === undefined) return {};
  const version = versionFromFsType(type);
  if (version !== undefined) return { version, versionSource: "statfs" };
  // A tmpfs (v1 or hybrid) or a fixture tree: the unified root has cgroup.controllers.
  if (await exists(mounts, `${root}/cgroup.controllers`))
    return { version: 2, versionSource: "files" };
  const hybridMarkers = ["unified", "memory", "cpu", "pids", "systemd"];
  for (const marker of hybridMarkers) {
    if (await exists(mounts, `${root}/${marker}`)) return { version: 1, versionSource: "files" };
  }
  return {};
}

export const cgroupCollector: Collector<CgroupFacts> = {
  name: "cgroup",
  description: "cgroup version and the controllers systemd delegates to the user",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect({ roots, target, note, host }) {
    const root = sysPath(roots, "fs/cgroup");
    const { uid } = target;
    const delegationPath = `/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service/cgroup.controllers`;
    const [version, controllers] = await Promise.all([
      detectVersion(host.mounts, root),
      readKernelText(sysPath(roots, delegationPath.slice("/sys/".length))),
    ]);
    if (version.version === undefined) note(`${root} is missing or not a cgroup filesystem`);
    if (!controllers.ok) {
      note(`${delegationPath}: ${controllers.detail}; delegation is unknown`);
      return { ...version, delegationPath };
    }
    return { ...version, delegated: parseControllers(controllers.text), delegationPath };
  },
};
