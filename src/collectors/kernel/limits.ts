import { readKernelText } from "../../host/files.js";
import type { InotifyCount } from "../../host/inotify.js";
import { countInotify, inotifyBounds } from "../../host/inotify.js";
import type { SelinuxMode } from "../../host/kernel-parsers.js";
import { parseSelinuxEnforce } from "../../host/kernel-parsers.js";
import type { HostRoots } from "../../host/paths.js";
import { procPath, sysPath } from "../../host/paths.js";
import { parseMountinfo, rootPropagation } from "../../host/proc-files.js";
import type { Target } from "../collector.js";
import { processes } from "../scans.js";
import type { Cycle } from "../state.js";

/*
 * The host's limits and settings rootlesskit and the field reports name beyond the guide:
 * the propagation of `/` (rootlesskit's pkg/parent/warn.go), SELinux's mode (moby 41230, 42333)
 * and each user's inotify instances (podman 10686).
 */

export interface RootMount {
  /** "shared:N" is among the optional fields of `/`. */
  readonly shared: boolean;
  /** The optional fields as the kernel wrote them ("" for a private mount). */
  readonly optional: string;
  /** The mount table read: init's (the host's namespace), or the exporter's own. */
  readonly source: string;
}

/** A mount table of many thousand mounts (a busy container host) is a few MB. */
const mountinfoLimit = 8 * 1024 * 1024;

/**
 * `/` as the host's mount namespace sees it: init's table (where logins, user@.service and so
 * rootlesskit start), else the exporter's own when init's is hidden (hidepid).
 */
export async function readRootMount(roots: HostRoots): Promise<RootMount | undefined> {
  for (const pid of ["1", "self"]) {
    const text = await readKernelText(procPath(roots, pid, "mountinfo"), mountinfoLimit);
    if (!text.ok) continue;
    const root = rootPropagation(parseMountinfo(text.text));
    if (root) return { ...root, source: `/proc/${pid}/mountinfo` };
  }
  return undefined;
}

/** selinuxfs's enforce file; no file (no selinuxfs mounted) is a kernel without SELinux on. */
export async function readSelinuxMode(roots: HostRoots): Promise<SelinuxMode | undefined> {
  const enforce = await readKernelText(sysPath(roots, "fs/selinux/enforce"), 64);
  if (!enforce.ok) return enforce.reason === "missing" ? "disabled" : undefined;
  return parseSelinuxEnforce(enforce.text);
}

/** What countInotify counts for a user without processes (every field, in its order). */
const noProcesses = (maxProcesses: number): InotifyCount => ({
  instances: 0,
  processes: 0,
  descriptors: 0,
  unreadable: 0,
  complete: 0 <= maxProcesses,
});

/** Descriptors read in one run for all users together: host mode may watch hundreds. */
export const runDescriptors = 4 * inotifyBounds.maxDescriptors;

/**
 * Each watched user's inotify instances, from this cycle's process scan (the processes each user
 * owns), one user after the other so that one budget holds for the whole run: once it is spent,
 * the users left get a count marked cut short.
 */
export async function readInotifyCounts(
  roots: HostRoots,
  cycle: Cycle,
  targets: readonly Target[],
  signal: AbortSignal,
): Promise<Record<number, InotifyCount>> {
  const counts: Record<number, InotifyCount> = {};
  if (targets.length === 0) return counts;
  const table = await processes(cycle, roots);
  let left = runDescriptors;
  // Whether the signal may have changed since it was last looked at: only an await lets an
  // abort in, and a user without processes (most of a host's) is counted without one.
  let fresh = true;
  for (const target of targets) {
    if (fresh && signal.aborted) break;
    fresh = false;
    if (table.of(target.uid).length === 0) {
      // countInotify's answer for no processes, without its promise and the user's pid list.
      counts[target.uid] = noProcesses(inotifyBounds.maxProcesses);
      continue;
    }
    fresh = true;
    const maxDescriptors = Math.min(inotifyBounds.maxDescriptors, left);
    const count = await countInotify(
      roots,
      table.named(target.uid, () => true),
      signal,
      {
        ...inotifyBounds,
        maxDescriptors,
      },
    );
    counts[target.uid] = count;
    left -= count.descriptors;
  }
  return counts;
}
