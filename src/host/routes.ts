/** Parsers of a network namespace's IPv4 routing tables in /proc/PID/net: pure, for garbage too. */

export interface Ipv4Route {
  readonly iface: string;
  /** Host byte order, as numbers 0..2^32-1. */
  readonly destination: number;
  readonly gateway: number;
  readonly mask: number;
  readonly flags: number;
}

/** RTF_UP (route.h). */
const routeUp = 0x1;

/** /proc/net/route's fields are the kernel's __be32 printed as %08X on a little-endian host. */
function hexAddress(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9A-Fa-f]{8}$/.test(text)) return undefined;
  const n = Number.parseInt(text, 16);
  // Little-endian: the first octet is the lowest byte.
  return (
    (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | (n >>> 24)) >>>
    0
  );
}

/** /proc/net/route: a header, then "Iface Destination Gateway Flags RefCnt Use Metric Mask ...". */
export function parseRoutes(text: string): Ipv4Route[] {
  const routes: Ipv4Route[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const [iface, dest, gateway, flags, mask] = [f[0], f[1], f[2], f[3], f[7]];
    const numbers = [hexAddress(dest), hexAddress(gateway), hexAddress(mask)];
    if (!iface || !/^[\w.@-]{1,15}$/.test(iface) || !/^[0-9A-Fa-f]{4}$/.test(flags ?? "")) continue;
    const [d, g, m] = numbers;
    if (d === undefined || g === undefined || m === undefined) continue;
    routes.push({
      iface,
      destination: d,
      gateway: g,
      mask: m,
      flags: Number.parseInt(flags ?? "0", 16),
    });
  }
  return routes;
}

const dotted = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function ipv4Number(address: string): number | undefined {
  const m = dotted.exec(address);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((n, o) => n * 256 + o, 0);
}

export function ipv4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

/**
 * /proc/net/fib_trie: the addresses of this namespace's own interfaces, the leaves followed by a
 * "/32 host LOCAL" line. Each is listed in the Main and the Local table: given once.
 */
export function parseLocalAddresses(text: string): string[] {
  const found = new Set<string>();
  let leaf: string | undefined;
  for (const line of text.split("\n")) {
    const at = /^\s*\|-- (\S+)$/.exec(line);
    if (at) {
      leaf = at[1];
      continue;
    }
    if (leaf !== undefined && /^\s*\/32 host LOCAL$/.test(line) && ipv4Number(leaf) !== undefined)
      found.add(leaf);
  }
  return [...found];
}

/** An IPv4 CIDR as address and mask, e.g. rootlesskit's `--cidr` (10.0.2.0/24 by default). */
export function parseCidr(
  cidr: string,
): { readonly network: number; readonly mask: number } | undefined {
  const [address, bits] = cidr.split("/");
  const n = ipv4Number(address ?? "");
  if (n === undefined || bits === undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32)
    return undefined;
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return { network: (n & mask) >>> 0, mask };
}

/**
 * An address of this host that a rootless namespace reaches through its gateway (slirp4netns
 * and pasta connect out from the host's network namespace): an address of the interface of the
 * default route, else of any other interface; never loopback, link-local, or inside the
 * namespace's own `--cidr` (which the namespace would look for on its own link).
 */
export function pickHostAddress(
  routes: readonly Ipv4Route[],
  locals: readonly string[],
  avoid: { readonly network: number; readonly mask: number } | undefined,
): string | undefined {
  const usable = locals.filter((address) => {
    const n = ipv4Number(address);
    if (n === undefined || n >>> 24 === 127 || n >>> 16 === 0xa9fe || n === 0) return false;
    return !avoid || (n & avoid.mask) >>> 0 !== avoid.network;
  });
  const up = routes.filter((r) => (r.flags & routeUp) !== 0);
  const defaults = new Set(up.filter((r) => r.mask === 0).map((r) => r.iface));
  const onDefault = usable.find((address) => {
    const n = ipv4Number(address) ?? 0;
    return up.some(
      (r) => defaults.has(r.iface) && r.mask !== 0 && (n & r.mask) >>> 0 === r.destination,
    );
  });
  return onDefault ?? usable[0];
}
