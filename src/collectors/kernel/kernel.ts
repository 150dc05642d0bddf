import type { MountTable } from "../../host/mount-table.js";
import { exists, listDir, readKernelText, readText } from "../../host/files.js";
import { resolveUnder } from "../../host/links.js";
import type { HostRoots } from "../../host/paths.js";
import { KernelConfigSlot } from "../../host/kernel-config.js";
import { procPath, rootPath, sysPath } from "../../host/paths.js";
import type { Collector } from "../collector.js";
import type { CapabilityCache, Verdict } from "./binaries.js";
import { findBinary, judgeIdmapHelper, rootlesskitBinary } from "./binaries.js";
import { kept } from "../state.js";
import type { InotifyCount } from "../../host/inotify.js";
import type { SelinuxMode } from "../../host/kernel-parsers.js";
import type { RootMount } from "./limits.js";
import { readInotifyCounts, readRootMount, readSelinuxMode } from "./limits.js";

/** getcap answers by file identity: a change of capabilities changes the file's ctime. */
const capabilitiesKept = kept("kernel.capabilities", (): CapabilityCache => new Map());
/** The running kernel's build config, read again only when its file changes. */
const kernelConfigKept = kept("kernel.config", () => new KernelConfigSlot());
import type { ModuleFact } from "./kernel-modules.js";
import { readModuleStates } from "./kernel-modules.js";
import type { GroupRange, KernelVersion } from "../../host/kernel-parsers.js";
import {
  atLeast,
  parseKernelRelease,
  parsePingGroupRange,
  parseSysctlInteger,
} from "../../host/kernel-parsers.js";

/** The sysctls the rootless guide names; exported only when the kernel has them. */
export const watchedSysctls = [
  "kernel.unprivileged_userns_clone",
  "user.max_user_namespaces",
  "kernel.apparmor_restrict_unprivileged_userns",
  "kernel.apparmor_restrict_unprivileged_unconfined",
  "net.ipv4.ip_unprivileged_port_start",
  "fs.inotify.max_user_instances",
  "fs.inotify.max_user_watches",
] as const;

/** iptables for the port driver and network, overlay and fuse for storage (rootless guide). */
export const watchedModules = [
  "fuse",
  "ip_tables",
  "iptable_filter",
  "iptable_mangle",
  "iptable_nat",
  "nf_tables",
  "overlay",
] as const;

export const storageDrivers = ["btrfs", "fuse-overlayfs", "overlay2", "vfs"] as const;
export type StorageDriver = (typeof storageDrivers)[number];
export type { Verdict } from "./binaries.js";

export const idmapHelpers = [
  { helper: "newgidmap", capability: "cap_setgid" },
  { helper: "newuidmap", capability: "cap_setuid" },
] as const;

export interface KernelFacts {
  readonly release?: string;
  /** The release's major.minor, when it starts with two numbers. */
  readonly version?: KernelVersion;
  readonly sysctls: Readonly<Record<string, number>>;
  readonly pingGroupRange?: GroupRange;
  /** Loaded or built in; a module is absent when no evidence decides it. */
  readonly modules?: Readonly<Record<string, boolean>>;
  /** Built in, loaded, loadable or absent, with the evidence; see kernel-modules.ts. */
  readonly moduleStates?: Readonly<Record<string, ModuleFact>>;
  /** What was looked for when a module stays undecided. */
  readonly modulesMissingEvidence?: string;
  /** sd_booted(3): /run/systemd/system exists when systemd is the init system. */
  readonly systemdBooted?: boolean;
  /** The iptables binary rootless dockerd runs (absent path: not installed), and which kind. */
  readonly iptables?: {
    readonly path?: string;
    /** Where its symlinks end (xtables-nft-multi, xtables-legacy-multi) and what that means. */
    readonly program?: string;
    readonly variant?: "nft" | "legacy";
  };
  readonly storageDrivers: Readonly<Partial<Record<StorageDriver, Verdict>>>;
  /** Absent for a helper whose capabilities could not be determined. */
  readonly idmapHelpers: Readonly<Partial<Record<string, Verdict & { path?: string }>>>;
  /** The rootlesskit binary and whether it may bind ports below ip_unprivileged_port_start. */
  readonly rootlesskitBinary?: { readonly path: string; readonly netBindService?: boolean };
  readonly apparmor: { readonly enabled: boolean; readonly rootlesskitProfiles: readonly string[] };
  /** The propagation of `/`; absent when no mount table could be read. */
  readonly rootMount?: RootMount;
  /** Absent when selinuxfs's enforce file is there but unreadable. */
  readonly selinux?: SelinuxMode;
  /** Each watched user's inotify instances, by uid; absent for a user whose count did not run. */
  readonly inotify?: Readonly<Record<number, InotifyCount>>;
}

async function readSysctls(roots: HostRoots): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  await Promise.all(
    watchedSysctls.map(async (name) => {
      const result = await readKernelText(procPath(roots, "sys", ...name.split(".")));
      const value = result.ok ? parseSysctlInteger(result.text) : undefined;
      if (value !== undefined) values[name] = value;
    }),
  );
  return values;
}

async function readModules(
  roots: HostRoots,
  mounts: MountTable,
  release: string | undefined,
  slot: KernelConfigSlot,
) {
  const { states, missing } = await readModuleStates(roots, mounts, release, watchedModules, slot);
  const loaded = (fact: ModuleFact) => fact.state === "builtin" || fact.state === "loaded";
  const modules = Object.fromEntries(Object.entries(states).map(([n, f]) => [n, loaded(f)]));
  return { modules, states, ...(missing !== undefined && { missing }) };
}

/** The iptables program behind the command: iptables-nft needs nf_tables, iptables-legacy ip_tables. */
function iptablesFacts(roots: HostRoots, path: string): NonNullable<KernelFacts["iptables"]> {
  const program = resolveUnder(roots, path);
  const name = program?.slice(program.lastIndexOf("/") + 1) ?? "";
  const variant = name.includes("legacy") ? "legacy" : name.includes("nft") ? "nft" : undefined;
  return { path, ...(program !== undefined && { program }), ...(variant && { variant }) };
}

/** Storage drivers that work rootless, per the guide's "Known limitations". */
async function judgeStorageDrivers(
  roots: HostRoots,
  mounts: MountTable,
  version: KernelVersion | undefined,
): Promise<Partial<Record<StorageDriver, Verdict>>> {
  const verdicts: Partial<Record<StorageDriver, Verdict>> = {
    vfs: { ok: true, reason: "vfs works on every kernel" },
  };
  if (!version) return verdicts;
  const kernel = `kernel ${version.major}.${version.minor}`;
  verdicts.overlay2 = atLeast(version, 5, 11)
    ? { ok: true, reason: `${kernel} >= 5.11` }
    : { ok: false, reason: `${kernel} < 5.11: rootless overlay2 needs 5.11` };
  verdicts.btrfs = atLeast(version, 4, 18)
    ? { ok: true, reason: `${kernel} >= 4.18` }
    : { ok: false, reason: `${kernel} < 4.18 (unless mounted with user_subvol_rm_allowed)` };
  const [binary, fuseDevice] = await Promise.all([
    findBinary(roots, mounts, "fuse-overlayfs"),
    exists(mounts, rootPath(roots, "/dev/fuse")),
  ]);
  if (!atLeast(version, 4, 18)) {
    verdicts["fuse-overlayfs"] = { ok: false, reason: `${kernel} < 4.18` };
  } else if (!binary) {
    verdicts["fuse-overlayfs"] = { ok: false, reason: "fuse-overlayfs is not installed" };
  } else if (!fuseDevice) {
    verdicts["fuse-overlayfs"] = { ok: false, reason: "/dev/fuse does not exist" };
  } else {
    verdicts["fuse-overlayfs"] = { ok: true, reason: `${kernel} >= 4.18, ${binary}, /dev/fuse` };
  }
  return verdicts;
}

/**
 * Profiles in /etc/apparmor.d that name rootlesskit and grant `userns` (the guide's Ubuntu 24.04
 * fix). Read only when the kernel restricts unprivileged user namespaces.
 */
async function apparmorFacts(roots: HostRoots, mounts: MountTable, restricted: boolean) {
  const enabled = await readKernelText(sysPath(roots, "module/apparmor/parameters/enabled"));
  const profiles: string[] = [];
  if (restricted) {
    const dir = await listDir(mounts, rootPath(roots, "/etc/apparmor.d"));
    for (const name of dir.ok ? dir.names : []) {
      const text = await readText(mounts, rootPath(roots, `/etc/apparmor.d/${name}`), 256 * 1024);
      if (text.ok && text.text.includes("rootlesskit") && /\buserns\b/.test(text.text)) {
        profiles.push(`/etc/apparmor.d/${name}`);
      }
    }
  }
  return { enabled: enabled.ok && enabled.text.trim() === "Y", rootlesskitProfiles: profiles };
}

export const kernelCollector: Collector<KernelFacts> = {
  name: "kernel",
  description:
    "sysctls, inotify, / propagation, SELinux, ping range, modules, storage drivers, idmap helpers",
  scope: "host",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect({ roots, targets, host, signal, note, cycle }) {
    const capabilities = host.own(capabilitiesKept);
    const mounts = host.mounts;
    const releaseText = await readKernelText(procPath(roots, "sys/kernel/osrelease"));
    const release = releaseText.ok ? releaseText.text.trim() : undefined;
    if (!release) note("sys/kernel/osrelease is unreadable: storage driver support is unknown");
    const version = release ? parseKernelRelease(release) : undefined;
    const [sysctls, pingText, modules, drivers, ...helpers] = await Promise.all([
      readSysctls(roots),
      readKernelText(procPath(roots, "sys/net/ipv4/ping_group_range")),
      readModules(roots, mounts, release, host.own(kernelConfigKept)),
      judgeStorageDrivers(roots, mounts, version),
      ...idmapHelpers.map(({ helper, capability }) =>
        judgeIdmapHelper(capabilities, roots, mounts, helper, capability, signal),
      ),
    ]);
    const range = pingText.ok ? parsePingGroupRange(pingText.text) : undefined;
    const restricted = sysctls["kernel.apparmor_restrict_unprivileged_userns"] === 1;
    const [binary, apparmor, iptablesPath, systemdBooted, rootMount, selinux, inotify] =
      await Promise.all([
        // ~/bin/rootlesskit (the install script's place) is looked for only when one user is
        // watched: in host mode the home dirs are users' own, and the distribution's binary counts.
        rootlesskitBinary(
          capabilities,
          roots,
          mounts,
          targets.length === 1 ? targets[0]?.home : undefined,
          signal,
        ),
        apparmorFacts(roots, mounts, restricted),
        findBinary(roots, mounts, "iptables"),
        exists(mounts, rootPath(roots, "/run/systemd/system")),
        readRootMount(roots),
        readSelinuxMode(roots),
        readInotifyCounts(roots, cycle, targets, signal),
      ]);
    if (!rootMount) note("no mount table shows `/`: its propagation is unknown");
    if (!selinux) note("/sys/fs/selinux/enforce is unreadable: the SELinux mode is unknown");
    const helperVerdicts: Record<string, Verdict & { path?: string }> = {};
    idmapHelpers.forEach(({ helper }, i) => {
      const verdict = helpers[i];
      if (verdict) helperVerdicts[helper] = verdict;
      else note(`${helper}: setuid bit and file capabilities could not be read`);
    });
    if (modules.missing) note(`kernel modules undecided; looked in ${modules.missing}`);
    return {
      ...(release !== undefined && { release }),
      ...(version !== undefined && { version }),
      sysctls,
      ...(range && { pingGroupRange: range }),
      ...(Object.keys(modules.modules).length > 0 && {
        modules: modules.modules,
        moduleStates: modules.states,
      }),
      ...(modules.missing !== undefined && { modulesMissingEvidence: modules.missing }),
      iptables: iptablesPath === undefined ? {} : iptablesFacts(roots, iptablesPath),
      systemdBooted,
      storageDrivers: drivers,
      idmapHelpers: helperVerdicts,
      ...(binary && { rootlesskitBinary: binary }),
      apparmor,
      ...(rootMount && { rootMount }),
      ...(selinux && { selinux }),
      inotify,
    };
  },
};
