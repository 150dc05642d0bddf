import type { HostRoots } from "../../host/paths.js";
import type { ProcessInfo } from "../../host/proc.js";
import {
  candidates,
  childPids,
  letLoopIn,
  programName,
  readProcess,
  withArgv,
} from "../../host/proc.js";
import type { ProcessTable } from "../../host/process-table.js";
import { readKernelText } from "../../host/files.js";
import { procPath } from "../../host/paths.js";
import { parseProcStat, parseProcStatus } from "../../host/proc-parsers.js";
import type { TargetState } from "../state.js";

/* The network driver's process: which program it is, and finding it for a rootlesskit parent. */

/** rootlesskit's network drivers that run as a process of their own (rootlesskit docs/network.md). */
export const networkDrivers = [
  "gvisor-tap-vsock",
  "lxc-user-nic",
  "pasta",
  "slirp4netns",
  "vpnkit",
] as const;

/** pasta is passt under another name, and runs as pasta.avx2 (passt.avx2) on AVX2 CPUs. */
const isPasta = (name: string): boolean => /^(pasta|passt)(\.[a-z0-9]+)?$/.test(name);

export function driverName(info: ProcessInfo): string | undefined {
  const names = [programName(info), info.stat.comm, (info.argv[0] ?? "").split("/").pop() ?? ""];
  if (names.some(isPasta)) return "pasta";
  return networkDrivers.find((d) => names.includes(d));
}

/*
 * The driver found for a rootlesskit parent, by pid and start time, kept in the user's target
 * state. Finding it costs a read of every parent thread's children (or, for pasta, a look at the
 * cycle's process table); checking that the same process still lives costs the two reads its
 * CPU and RSS need anyway.
 */
export async function findDriver(
  roots: HostRoots,
  uid: number,
  parent: ProcessInfo,
  childPid: number | undefined,
  state: TargetState,
  processes: () => Promise<ProcessTable>,
): Promise<ProcessInfo | undefined> {
  const key = `${roots.procfs}\0${parent.pid}\0${parent.stat.startTicks}\0${childPid ?? ""}`;
  const known = state.knownDriver;
  if (known?.key === key) {
    const info = await readProcess(roots, known.pid, { argv: false });
    if (info && info.stat.startTicks === known.startTicks && driverName(info))
      return withArgv(roots, info);
  }
  const found = await searchDriver(roots, uid, parent.pid, childPid, state, processes);
  state.knownDriver = found && { key, pid: found.pid, startTicks: found.stat.startTicks };
  return found;
}

/** Among rootlesskit's children; pasta daemonises, so also the user's processes naming the child. */
async function searchDriver(
  roots: HostRoots,
  uid: number,
  parentPid: number,
  childPid: number | undefined,
  state: TargetState,
  processes: () => Promise<ProcessTable>,
): Promise<ProcessInfo | undefined> {
  // Identify by exe and comm first; only the driver's own arguments are read (its --mtu).
  for (const pid of candidates((await childPids(roots, parentPid)) ?? [])) {
    await letLoopIn();
    const info = await readProcess(roots, pid, { argv: false });
    if (info && driverName(info)) return withArgv(roots, info);
  }
  if (childPid === undefined) return undefined;
  const netns = `/proc/${childPid}/ns/net`;
  for (const pid of candidates((await processes()).named(uid, isPasta))) {
    await letLoopIn();
    const info = await readProcess(roots, pid, { argv: true });
    if (!info || driverName(info) !== "pasta") continue;
    if (
      info.argv.some(
        (arg) => arg === String(childPid) || arg === netns || arg.endsWith(`=${netns}`),
      )
    )
      return info;
  }
  return undefined;
}

export function parseMtu(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,6}$/.test(value) ? Number(value) : undefined;
}

/**
 * A refresh's look at the driver process (its CPU and RSS, its start time to tell it from a later
 * one): readProcess's stat and status, read together as it reads them, without the exe link and
 * argv, which a refresh does not use. Undefined when it is gone or a zombie, as readProcess.
 */
export async function driverNow(roots: HostRoots, pid: number): Promise<ProcessInfo | undefined> {
  const dir = String(pid);
  const [statText, statusText] = await Promise.all([
    readKernelText(procPath(roots, dir, "stat")),
    readKernelText(procPath(roots, dir, "status")),
  ]);
  if (!statText.ok || !statusText.ok) return undefined;
  const stat = parseProcStat(statText.text);
  const status = parseProcStatus(statusText.text);
  if (!stat || !status || stat.state === "Z" || stat.state === "X") return undefined;
  return { pid, stat, status, argv: [] };
}
