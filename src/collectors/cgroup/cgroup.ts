import { exists, filesystemType, listDir, readKernelText } from "../../host/files.js";
import type { MountTable } from "../../host/mount-table.js";
import type { HostRoots } from "../../host/paths.js";
import { sysPath } from "../../host/paths.js";
import type { Collector } from "../collector.js";
import type { Cycle } from "../state.js";
import type { Pressure } from "../../host/kernel-parsers.js";
import { parsePressure } from "../../host/kernel-parsers.js";
import { systemBus } from "../linger/linger.js";
import type { OomdFacts } from "./oomd.js";
import { readOomd } from "./oomd.js";

/** The controllers rootless Docker cares about (Docker docs, "Limiting resources"). */
export const watchedControllers = ["cpu", "cpuset", "io", "memory", "pids"] as const;
export type Controller = (typeof watchedControllers)[number];

/** The PSI files of a cgroup v2 (Documentation/accounting/psi.rst). */
export const pressureResources = ["cpu", "io", "memory"] as const;
export type PressureResource = (typeof pressureResources)[number];

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
  /** user@UID.service's cpu, io and memory.pressure; absent on v1 and without PSI (psi=0). */
  readonly pressure?: Readonly<Partial<Record<PressureResource, Pressure>>>;
  /** systemd-oomd and the user's units, from the system manager; absent when it did not answer. */
  readonly oomd?: OomdFacts;
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

/** The cgroup's PSI files that exist and parse; undefined when none does. */
async function readPressure(
  roots: HostRoots,
  cgroup: string,
): Promise<Partial<Record<PressureResource, Pressure>> | undefined> {
  const read = await Promise.all(
    pressureResources.map(async (resource) => {
      const text = await readKernelText(sysPath(roots, `${cgroup}/${resource}.pressure`), 4096);
      return [resource, text.ok ? parsePressure(text.text) : undefined] as const;
    }),
  );
  const found = read.filter((entry): entry is [PressureResource, Pressure] => !!entry[1]);
  return found.length > 0 ? Object.fromEntries(found) : undefined;
}

/**
 * What every user's cgroup run of a cycle shares, made once a cycle (no key string built a user):
 * the host's cgroup version and the names in `user.slice` (systemd's, under root's cgroup tree: a
 * user cannot add one; a user with no `user-UID.slice` has no manager's cgroup, without a stat
 * each, most users of a host; undefined when it cannot be listed, but is there: each user's is
 * stat'ed). Made for the first roots and mount table asked, the configuration's (the same objects
 * in every run); others (none in the exporter) get their own.
 */
interface CgroupHost {
  readonly roots: HostRoots;
  readonly mounts: MountTable;
  readonly root: string;
  readonly version: Promise<Pick<CgroupFacts, "version" | "versionSource">>;
  readonly slices: Promise<ReadonlySet<string> | undefined>;
}

function cgroupHost(cycle: Cycle, mounts: MountTable, roots: HostRoots): CgroupHost {
  const memo = cycle.once("cgroup-host", newCgroupHostMemo);
  const known = memo.host;
  if (known && known.roots === roots && known.mounts === mounts) return known;
  const root = sysPath(roots, "fs/cgroup");
  const path = sysPath(roots, "fs/cgroup/user.slice");
  const host: CgroupHost = {
    roots,
    mounts,
    root,
    version: cycle.once(`cgroup-version\0${root}`, () => detectVersion(mounts, root)),
    slices: cycle.once(`cgroup-user-slices\0${path}`, async () => {
      const listed = await listDir(mounts, path);
      // No user.slice at all: no user's slice in it either.
      if (!listed.ok) return listed.reason === "missing" ? new Set<string>() : undefined;
      return new Set(listed.names);
    }),
  };
  memo.host ??= host;
  return host;
}

const newCgroupHostMemo = (): { host?: CgroupHost } => ({});

/** Whether user@UID.service's cgroup is there: no when user.slice has no slice of the user. */
async function serviceThere(
  slices: ReadonlySet<string> | undefined,
  mounts: MountTable,
  roots: HostRoots,
  uid: number,
  service: string,
): Promise<boolean> {
  if (slices && !slices.has(`user-${uid}.slice`)) return false;
  return exists(mounts, sysPath(roots, service));
}

export const cgroupCollector: Collector<CgroupFacts> = {
  name: "cgroup",
  description:
    "cgroup version, delegated controllers, PSI of user@UID.service, whether oomd watches it",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect(ctx) {
    const { roots, target, host, env, cycle, rpcTimeoutMs } = ctx;
    const shared = cgroupHost(cycle, host.mounts, roots);
    const { root } = shared;
    const { uid } = target;
    const service = `fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service`;
    const delegationPath = `/sys/${service}/cgroup.controllers`;
    const bus = systemBus(cycle, roots, env);
    const address = bus.address;
    const oomdUnsaid = `systemd on ${address} did not say what systemd-oomd watches: `;
    // Most users of a host: no slice in the cycle's listing of user.slice and no system bus
    // socket. The same facts and notes as below, in the same order, from the cycle's answers
    // alone: no promise, closure or call object a user.
    const [slices, missing] = [await shared.slices, await bus.missing];
    if (slices && !slices.has(`user-${uid}.slice`) && missing !== undefined) {
      ctx.note(`${oomdUnsaid}Error: ${missing}`);
      const version = await shared.version;
      if (version.version === undefined) ctx.note(`${root} is missing or not a cgroup filesystem`);
      ctx.note(`${delegationPath}: /sys/${service} does not exist; delegation is unknown`);
      return { ...version, delegationPath };
    }
    const unsaid = (why: string): undefined => {
      ctx.note(`${oomdUnsaid}${why}`);
      return undefined;
    };
    const ask = {
      pool: host.systemBus,
      address,
      timeoutMs: rpcTimeoutMs,
      // The signal made only when a call is made (most cycles ask no bus): an AbortController a run.
      get signal() {
        return ctx.signal;
      },
    };
    // The manager's cgroup is missing for a user not logged in (most users of a host): the
    // cycle's listing of user.slice (else one stat) says none of its files is there. The version
    // is the host's: once a cycle.
    const serviceDir = serviceThere(slices, host.mounts, roots, uid, service);
    const [version, controllers, pressure, oomd] = await Promise.all([
      shared.version,
      serviceDir.then((there) =>
        there
          ? readKernelText(sysPath(roots, delegationPath.slice("/sys/".length)))
          : {
              ok: false as const,
              reason: "missing" as const,
              detail: `/sys/${service} does not exist`,
            },
      ),
      serviceDir.then((there) => (there ? readPressure(roots, service) : undefined)),
      // No bus socket: said without an Error made (its stack) for every user and cycle.
      missing !== undefined
        ? unsaid(`Error: ${missing}`)
        : readOomd(ask, cycle, uid).catch((err: unknown) => unsaid(String(err))),
    ]);
    const { note } = ctx;
    if (version.version === undefined) note(`${root} is missing or not a cgroup filesystem`);
    const more = { ...(version.version === 2 && pressure && { pressure }), ...(oomd && { oomd }) };
    if (!controllers.ok) {
      note(`${delegationPath}: ${controllers.detail}; delegation is unknown`);
      return { ...version, delegationPath, ...more };
    }
    return { ...version, delegated: parseControllers(controllers.text), delegationPath, ...more };
  },
};
