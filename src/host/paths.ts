import { join } from "node:path";

/** The three roots of the node_exporter convention; every OS path is built from one of them. */
export interface HostRoots {
  readonly procfs: string;
  readonly sysfs: string;
  readonly rootfs: string;
}

export const defaultRoots: HostRoots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };

/**
 * Whether `path.join` would leave `s` as it is (as a piece after the first): not empty, no empty,
 * `.` or `..` name, no trailing slash. A leading slash is allowed (join drops it as a separator).
 */
function plain(s: string): boolean {
  if (s.length === 0 || s.endsWith("/") || s.includes("//")) return false;
  if (s === "." || s === "..") return false;
  if (s.startsWith("./") || s.startsWith("../") || s.startsWith("/./") || s.startsWith("/../"))
    return false;
  if (s.endsWith("/.") || s.endsWith("/..")) return false;
  return !s.includes("/./") && !s.includes("/../");
}

/**
 * `join(root, part)`, without join's normalization (its intermediate strings were ~5 MiB of a
 * steady host-mode cycle's garbage at 1,000 users) when both are already normal: an absolute root
 * and a plain part give the same string concatenated. Anything else goes through join.
 */
function under(root: string, part: string): string {
  if (!root.startsWith("/") || !plain(part)) return join(root, part);
  if (root === "/") return part.startsWith("/") ? part : `/${part}`;
  if (!plain(root)) return join(root, part);
  return part.startsWith("/") ? root + part : `${root}/${part}`;
}

/** A path under /proc, e.g. procPath(roots, "sys/kernel/osrelease"). */
export function procPath(roots: HostRoots, ...parts: string[]): string {
  return parts.length === 1 ? under(roots.procfs, parts[0] ?? "") : join(roots.procfs, ...parts);
}

/** A path under /sys. */
export function sysPath(roots: HostRoots, ...parts: string[]): string {
  return parts.length === 1 ? under(roots.sysfs, parts[0] ?? "") : join(roots.sysfs, ...parts);
}

/** A host path such as "/etc/subuid" placed under the configured root filesystem. */
export function rootPath(roots: HostRoots, hostPath: string): string {
  return under(roots.rootfs, hostPath);
}
