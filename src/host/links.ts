import { readlinkSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import type { HostRoots } from "./paths.js";
import { rootPath } from "./paths.js";

/**
 * Where a chain of symlinks under the root filesystem ends, as a host path: absolute targets are
 * resolved under the root filesystem too (/usr/sbin/iptables -> /etc/alternatives/iptables ->
 * /usr/sbin/xtables-nft-multi). Undefined when a link cannot be read or the chain is too long.
 */
export function resolveUnder(roots: HostRoots, hostPath: string, maxLinks = 8): string | undefined {
  let current = posix.normalize(hostPath);
  for (let i = 0; i <= maxLinks; i++) {
    let target: string;
    try {
      target = readlinkSync(rootPath(roots, current));
    } catch (err) {
      // EINVAL: not a symlink, the end of the chain.
      return (err as NodeJS.ErrnoException).code === "EINVAL" ? current : undefined;
    }
    current = posix.normalize(target.startsWith("/") ? target : join(dirname(current), target));
  }
  return undefined;
}
