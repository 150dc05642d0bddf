/** The binaries the kernel collector looks for, and their setuid bits and file capabilities. */

import { runFile } from "../../host/exec.js";
import { exists, statPath } from "../../host/files.js";
import { hasFileCapability } from "../../host/kernel-parsers.js";
import type { MountTable } from "../../host/mount-table.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";

export interface Verdict {
  readonly ok: boolean;
  readonly reason: string;
}

/** getcap answers by file identity: a change of capabilities changes the file's ctime. */
export type CapabilityCache = Map<string, { readonly identity: string; readonly has: boolean }>;

const binDirs = ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin", "/usr/local/sbin"];
const getcapCandidates = ["/usr/sbin/getcap", "/sbin/getcap", "/usr/bin/getcap"];

export async function findBinary(
  roots: HostRoots,
  mounts: MountTable,
  name: string,
): Promise<string | undefined> {
  for (const dir of binDirs) {
    if (await exists(mounts, rootPath(roots, `${dir}/${name}`))) return `${dir}/${name}`;
  }
  return undefined;
}

export async function judgeIdmapHelper(
  cache: CapabilityCache,
  roots: HostRoots,
  mounts: MountTable,
  helper: string,
  capability: string,
  signal: AbortSignal,
): Promise<(Verdict & { path?: string }) | undefined> {
  const path = await findBinary(roots, mounts, helper);
  if (!path) return { ok: false, reason: `${helper} is not installed (package uidmap)` };
  const stat = await statPath(mounts, rootPath(roots, path));
  if (!stat.ok) return undefined;
  if ((stat.stats.mode & 0o4000) !== 0 && stat.stats.uid === 0) {
    return { ok: true, reason: `${path} is setuid root`, path };
  }
  const has = await fileCapability(cache, roots, mounts, path, capability, signal);
  if (has === undefined) return undefined;
  return has
    ? { ok: true, reason: `${path} has ${capability}=ep`, path }
    : { ok: false, reason: `${path} is neither setuid root nor has ${capability}=ep`, path };
}

/**
 * File capabilities live in an xattr that Node cannot read: ask getcap(8), once per version of
 * the file (spawning it every cycle would cost more CPU than all the collectors together).
 */
async function fileCapability(
  capabilityCache: CapabilityCache,
  roots: HostRoots,
  mounts: MountTable,
  path: string,
  capability: string,
  signal: AbortSignal,
): Promise<boolean | undefined> {
  const stat = await statPath(mounts, rootPath(roots, path));
  if (!stat.ok) return undefined;
  const { dev, ino, size, ctimeMs } = stat.stats;
  const key = `${rootPath(roots, path)}:${capability}`;
  const identity = `${dev}:${ino}:${size}:${ctimeMs}`;
  const cached = capabilityCache.get(key);
  if (cached?.identity === identity) return cached.has;
  const has = await askGetcap(roots, path, capability, signal);
  if (has !== undefined) capabilityCache.set(key, { identity, has });
  return has;
}

async function askGetcap(
  roots: HostRoots,
  path: string,
  capability: string,
  signal: AbortSignal,
): Promise<boolean | undefined> {
  for (const getcap of getcapCandidates) {
    const result = await runFile(getcap, [rootPath(roots, path)], { timeoutMs: 2000, signal });
    if (!result.ok && result.reason === "missing") continue;
    return result.ok ? hasFileCapability(result.stdout, capability) : undefined;
  }
  return undefined;
}

/** rootlesskit from the distribution, or in ~/bin where the install script puts it. */
export async function rootlesskitBinary(
  cache: CapabilityCache,
  roots: HostRoots,
  mounts: MountTable,
  home: string | undefined,
  signal: AbortSignal,
) {
  const installed = await findBinary(roots, mounts, "rootlesskit");
  const inHome = home === undefined ? undefined : `${home}/bin/rootlesskit`;
  const path =
    installed ?? (inHome && (await exists(mounts, rootPath(roots, inHome))) ? inHome : undefined);
  if (!path) return undefined;
  const netBindService = await fileCapability(
    cache,
    roots,
    mounts,
    path,
    "cap_net_bind_service",
    signal,
  );
  return { path, ...(netBindService !== undefined && { netBindService }) };
}
