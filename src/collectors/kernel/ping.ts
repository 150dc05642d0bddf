import type { GroupRange } from "../../host/kernel-parsers.js";

/** icmp(7): a user may open ICMP echo sockets when one of their groups is in ping_group_range. */
export function pingAllowed(range: GroupRange, groups: readonly number[]): boolean {
  return groups.some((gid) => gid >= range.low && gid <= range.high);
}
