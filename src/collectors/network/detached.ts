import type { InterfaceCounters } from "../../host/proc-files.js";
import { parseNetDev } from "../../host/proc-files.js";
import type { HostRoots } from "../../host/paths.js";
import { detachedNetnsPath } from "../../host/netns.js";
import { readNetDevIn } from "../../host/netns-read.js";
import type { Target } from "../../host/target.js";
import { findSystemProgram, programVersion } from "../../host/program-version.js";
import type { HostState } from "../state.js";
import { kept } from "../state.js";

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

/** The dockerd a detached rootlesskit runs, as its own `--version` says: no API needed. */
export interface DockerdBinary {
  readonly path: string;
  /** `x.y.z` from "Docker version x.y.z, build ..."; absent when it could not be told. */
  readonly version?: string;
  readonly error?: string;
}

/** `dockerd --version` answers, by the binary's identity: a binary is run once, not each cycle. */
export const dockerdVersions = kept(
  "network.dockerd-version",
  () => new Map<string, DockerdBinary>(),
);

/**
 * The system's dockerd (the first in systemd's default PATH, root's and writable by no one else)
 * and its version. A dockerd in the user's ~/bin is never run: its version is then unknown.
 */
export async function dockerdBinary(
  host: HostState,
  roots: HostRoots,
  timeoutMs: number,
): Promise<DockerdBinary | undefined> {
  const program = await findSystemProgram(roots, "dockerd");
  if (!program) return undefined;
  const seen = host.own(dockerdVersions);
  const known = seen.get(program.identity);
  if (known) return known;
  const answer = await programVersion(roots, program, timeoutMs);
  const version = answer.ok
    ? /^Docker version v?(\d+\.\d+\.\d+)/.exec(answer.text)?.[1]
    : undefined;
  const binary: DockerdBinary = {
    path: program.path,
    ...(version !== undefined && { version }),
    ...(!answer.ok && { error: answer.error }),
    ...(answer.ok && version === undefined && { error: "its --version names no Docker version" }),
  };
  // A timeout on a loaded host is asked again next cycle; an answer is kept.
  if (!answer.ok) return binary;
  if (seen.size >= 8) seen.clear();
  seen.set(program.identity, binary);
  return binary;
}
