import { readKernelText } from "../../host/files.js";
import type { HostRoots } from "../../host/paths.js";
import { procPath } from "../../host/paths.js";
import type { IdRange } from "./subid-index.js";

/**
 * The IDs the exporter's own user namespace maps: the first and third fields of each line of
 * /proc/self/uid_map (user_namespaces(7)). newuidmap writes a child's map in this namespace, and
 * kernel/user_namespace.c map_write() refuses a lower ID this namespace does not map with EPERM:
 * "newuidmap: write to uid_map failed: Operation not permitted" (measured on 6.18 in
 * test/e2e/subid-nss.test.ts; the same code since 4.15).
 */
export type ParentMap =
  | { readonly ok: true; readonly ranges: readonly IdRange[] }
  | { readonly ok: false; readonly detail: string };

/** The kernel allows 340 lines; each is at most three 10-digit numbers. */
const maxMapBytes = 64 * 1024;

export function parseIdMap(text: string): ParentMap {
  const ranges: IdRange[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    const match = /^\s*(\d{1,10})\s+(\d{1,10})\s+(\d{1,10})\s*$/.exec(line);
    if (!match) return { ok: false, detail: `line ${i + 1} is not "inside outside count"` };
    ranges.push({ start: Number(match[1]), count: Number(match[3]) });
  }
  return { ok: true, ranges };
}

/** The IDs of `ranges` that no range of `map` holds (each set counted once). */
export function idsOutside(ranges: readonly IdRange[], map: readonly IdRange[]): number {
  const merged = merge(map);
  let outside = 0;
  for (const range of merge(ranges)) {
    let inside = 0;
    for (const m of merged) {
      const from = Math.max(range.start, m.start);
      const to = Math.min(range.start + range.count, m.start + m.count);
      if (to > from) inside += to - from;
    }
    outside += range.count - inside;
  }
  return outside;
}

/** Sorted, with overlapping and adjacent ranges joined. */
function merge(ranges: readonly IdRange[]): IdRange[] {
  const sorted = ranges.filter((r) => r.count > 0).sort((a, b) => a.start - b.start);
  const out: { start: number; count: number }[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.start <= last.start + last.count) {
      last.count = Math.max(last.count, r.start + r.count - last.start);
    } else out.push({ start: r.start, count: r.count });
  }
  return out;
}

/** "0-65535" or "0-65535, 100000-165535": what the map holds, for a check's words. */
export function describeRanges(ranges: readonly IdRange[]): string {
  const merged = merge(ranges);
  const shown = merged.slice(0, 3).map((r) => `${r.start}-${r.start + r.count - 1}`);
  return merged.length > 3 ? `${shown.join(", ")} and ${merged.length - 3} more` : shown.join(", ");
}

/**
 * The exporter's own map of one kind. No file at all is a kernel without user namespaces: every
 * ID is the initial namespace's.
 */
export async function readParentMap(roots: HostRoots, kind: "uid" | "gid"): Promise<ParentMap> {
  const result = await readKernelText(procPath(roots, "self", `${kind}_map`), maxMapBytes);
  if (result.ok) return parseIdMap(result.text);
  if (result.reason === "missing") return { ok: true, ranges: [{ start: 0, count: 0xffffffff }] };
  return { ok: false, detail: `/proc/self/${kind}_map cannot be read (${result.detail})` };
}
