import { readKernelText } from "../../host/files.js";
import type { HostRoots } from "../../host/paths.js";
import { procPath } from "../../host/paths.js";
import { flagValue } from "../../host/proc-parsers.js";
import { parseCidr, parseLocalAddresses, parseRoutes, pickHostAddress } from "../../host/routes.js";

/** A host's routing tables: a few KB; a router's full table would be tens of MB, not read. */
const tableBytes = 1024 * 1024;

export type HostTarget =
  | {
      readonly ok: true;
      readonly address: string;
      /** Every address of the host's own: a connection from elsewhere is not the namespace's. */
      readonly locals: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

/**
 * With `--disable-host-loopback` (Docker's default) the namespace cannot reach the host's
 * loopback, but slirp4netns and pasta still connect out from the host's network namespace, the
 * one rootlesskit's parent is in: an address of that namespace's own interfaces is reachable
 * through the gateway. Read from the parent's /proc/PID/net (kernel tables no user can write).
 */
export async function hostTarget(
  roots: HostRoots,
  parentPid: number,
  parentArgv: readonly string[],
): Promise<HostTarget> {
  const [route, trie] = await Promise.all(
    ["route", "fib_trie"].map((file) =>
      readKernelText(procPath(roots, String(parentPid), "net", file), tableBytes),
    ),
  );
  if (!route?.ok || !trie?.ok)
    return { ok: false, reason: `/proc/${parentPid}/net/route or fib_trie is unreadable` };
  const cidr = parseCidr(flagValue(parentArgv, "--cidr") ?? "10.0.2.0/24");
  const locals = parseLocalAddresses(trie.text);
  const address = pickHostAddress(parseRoutes(route.text), locals, cidr);
  return address
    ? { ok: true, address, locals }
    : {
        ok: false,
        reason:
          "this host has no IPv4 address outside loopback, link-local and rootlesskit's --cidr",
      };
}
