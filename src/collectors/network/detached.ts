import type { InterfaceCounters } from "../../host/proc-files.js";
import { parseNetDev } from "../../host/proc-files.js";
import type { HostRoots } from "../../host/paths.js";
import { detachedNetnsPath } from "../../host/netns.js";
import { readNetDevIn } from "../../host/netns-read.js";
import type { Target } from "../../host/target.js";

/** A namespace's /proc/net/dev: some 130 bytes an interface; the user may make thousands. */
export const netDevBytes = 256 * 1024;

export type DetachedCounters =
  | { readonly ok: true; readonly interfaces: InterfaceCounters[] }
  | { readonly ok: false; readonly error: string };

/**
 * The counters of RootlessKit 2's detached network namespace (`--detach-netns`), where the child
 * runs in the host's network namespace: its /proc/CHILD/net/dev would be the host's. Read by
 * entering `$STATE_DIR/netns` as the user (host/netns-read.ts), with the user's own state dir.
 */
export async function detachedCounters(
  roots: HostRoots,
  target: Target,
  childPid: number,
  stateDir: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<DetachedCounters> {
  const netns = detachedNetnsPath(roots.procfs, childPid, stateDir);
  if (!netns) return { ok: false, error: "the state dir is not a plain absolute path" };
  const read = await readNetDevIn(
    { pid: childPid, netns },
    { uid: target.uid, gid: target.gid },
    { timeoutMs, maxBytes: netDevBytes, ...(signal && { signal }) },
  );
  if (!read.ok) return { ok: false, error: `${read.reason}: ${printable(read.detail)}` };
  return { ok: true, interfaces: parseNetDev(read.stdout) };
}

/** nsenter's message names the user's path: printable ASCII, short. */
const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
