import { networkDrivers } from "./network/network.js";

/*
 * Label values that a watched user controls (rootlesskit's api.sock, docker's `/info`, their argv,
 * their namespace's interfaces): each series is one more for Prometheus to keep, so each value is
 * from a closed set, or of a plain bounded shape, or capped in count per user (issue 16: 9,500
 * `proto` values made 8,552 series).
 */

/** Outside a closed set. */
export const otherValue = "other";
/** Not of the plain shape a version, driver or path has. */
export const invalidValue = "invalid";

/** rootlesskit's port protocols; tcp4/tcp6 (forwards bound to one family) count as tcp. */
const protos = ["tcp", "udp", "sctp"] as const;
export type ProtoLabel = (typeof protos)[number] | typeof otherValue;

export function protoLabel(proto: string): ProtoLabel {
  const base = proto.replace(/[46]$/, "");
  return (protos as readonly string[]).includes(base) ? (base as ProtoLabel) : otherValue;
}

/** The value when it is one of `known` (or empty: not reported), else "other". */
export function closedLabel(value: string, known: readonly string[]): string {
  return value === "" || known.includes(value) ? value : otherValue;
}

/** rootlesskit's `--net` drivers (docs/network.md), with and without a process of their own. */
export const networkDriverValues: readonly string[] = [...networkDrivers, "host", "none"];
/** rootlesskit's `--port-driver` values (docs/port.md); pasta's implicit driver has no API. */
export const portDriverValues: readonly string[] = [
  "builtin",
  "gvisor-tap-vsock",
  "implicit",
  "none",
  "slirp4netns",
];
export const cgroupDriverValues: readonly string[] = ["cgroupfs", "none", "systemd"];
export const cgroupVersionValues: readonly string[] = ["1", "2"];

/** A version or a driver name: "27.3.1", "v2.0.2", "20.10.24+dfsg1", "fuse-overlayfs", "nfs4". */
export function wordLabel(value: string): string {
  return value === "" || /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$/.test(value) ? value : invalidValue;
}

/** An absolute path of plain characters, at most 256 of them (a state dir, a data root). */
export function pathLabel(value: string): string {
  return value === "" || /^\/[A-Za-z0-9._+@%,:=~/-]{0,255}$/.test(value) ? value : invalidValue;
}

/** Devices with series of their own; the rest of a user's are summed into one. */
export const maxDevicesPerUser = 32;
/** Not a name /proc/net/dev can hold (parseNetDev takes [\w.@-] only). */
export const overflowDevice = "(other)";

/** What rootless networking itself makes: rootlesskit's tap, the loopback, dockerd's bridge. */
const ownDevices = ["lo", "tap0", "eth0", "docker0"];

/**
 * The devices to show one by one: all of them up to the cap, else rootless networking's own
 * first, then the rest by name with veth pairs (one per container) last. The rest are summed
 * as `overflowDevice` (a user's own choice of names only ever hides the user's own devices).
 */
export function devicesShown(devices: readonly string[]): ReadonlySet<string> {
  if (devices.length <= maxDevicesPerUser) return new Set(devices);
  const rank = (d: string) => (ownDevices.includes(d) ? 0 : d.startsWith("veth") ? 2 : 1);
  const sorted = [...devices].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return new Set(sorted.slice(0, maxDevicesPerUser - 1));
}
