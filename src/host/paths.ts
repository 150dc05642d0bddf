import { join } from "node:path";

/** The three roots of the node_exporter convention; every OS path is built from one of them. */
export interface HostRoots {
  readonly procfs: string;
  readonly sysfs: string;
  readonly rootfs: string;
}

export const defaultRoots: HostRoots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };

/** A path under /proc, e.g. procPath(roots, "sys/kernel/osrelease"). */
export function procPath(roots: HostRoots, ...parts: string[]): string {
  return join(roots.procfs, ...parts);
}

/** A path under /sys. */
export function sysPath(roots: HostRoots, ...parts: string[]): string {
  return join(roots.sysfs, ...parts);
}

/** A host path such as "/etc/subuid" placed under the configured root filesystem. */
export function rootPath(roots: HostRoots, hostPath: string): string {
  return join(roots.rootfs, hostPath);
}
