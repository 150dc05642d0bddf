/** Parsers for /proc files read by the daemon collectors: pure, so garbage can be thrown at them. */

export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  /** The optional fields: "shared:N", "master:N", "propagate_from:N", "unbindable". */
  readonly optional: readonly string[];
}

/** Octal escapes of mountinfo (\040 for a space). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/** proc(5) mountinfo: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw". */
export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const dash = line.indexOf(" - ");
    if (dash === -1) continue;
    const before = line.slice(0, dash).split(" ");
    const after = line.slice(dash + 3).split(" ");
    const mountPoint = before[4];
    const fsType = after[0];
    if (!mountPoint || !fsType) continue;
    const optional = before.slice(6).filter((field) => field !== "");
    mounts.push({ mountPoint: unescapeMount(mountPoint), fsType, optional });
  }
  return mounts;
}

/** The mount holding `path`: the longest mount point that is `path` or a parent of it; the last wins. */
export function mountOf(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const mount of mounts) {
    const point = mount.mountPoint;
    const inside =
      point === "/" || path === point || path.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && (!best || point.length >= best.mountPoint.length)) best = mount;
  }
  return best;
}

/**
 * The propagation of the mount at `/` (the last one mounted there wins), as rootlesskit's
 * pkg/parent/warn.go reads it: "shared:N" means shared; "master:N" alone (a container) or nothing
 * (private) means `--propagation=rslave` cannot work. Undefined when the table has no `/`.
 */
export function rootPropagation(
  mounts: readonly MountEntry[],
): { readonly shared: boolean; readonly optional: string } | undefined {
  const root = mounts.filter((m) => m.mountPoint === "/").at(-1);
  if (!root) return undefined;
  return {
    shared: root.optional.some((field) => field.startsWith("shared:")),
    optional: root.optional.join(" "),
  };
}

export interface InterfaceCounters {
  readonly device: string;
  readonly receiveBytes: number;
  readonly receivePackets: number;
  readonly receiveErrs: number;
  readonly receiveDrop: number;
  readonly transmitBytes: number;
  readonly transmitPackets: number;
  readonly transmitErrs: number;
  readonly transmitDrop: number;
}

/** /proc/PID/net/dev: two header lines, then "  tap0: rx_bytes rx_packets errs drop ... tx_bytes ...". */
export function parseNetDev(text: string): InterfaceCounters[] {
  const result: InterfaceCounters[] = [];
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    const device = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (!/^[\w.@-]+$/.test(device) || fields.length < 16 || fields.some((f) => !/^\d+$/.test(f)))
      continue;
    const n = fields.map(Number);
    result.push({
      device,
      receiveBytes: n[0] ?? 0,
      receivePackets: n[1] ?? 0,
      receiveErrs: n[2] ?? 0,
      receiveDrop: n[3] ?? 0,
      transmitBytes: n[8] ?? 0,
      transmitPackets: n[9] ?? 0,
      transmitErrs: n[10] ?? 0,
      transmitDrop: n[11] ?? 0,
    });
  }
  return result;
}

/** user_namespaces(7) uid_map/gid_map: "inside outside count" per line; returns the IDs mapped. */
export function mappedIds(text: string): number | undefined {
  let total = 0;
  let lines = 0;
  for (const line of text.split("\n")) {
    const match = /^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (!match) {
      if (line.trim() !== "") return undefined;
      continue;
    }
    total += Number(match[3]);
    lines++;
  }
  return lines > 0 ? total : undefined;
}
