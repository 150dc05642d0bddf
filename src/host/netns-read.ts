import type { ExecResult } from "./exec.js";
import { runFile } from "./exec.js";
import type { NamespaceOwner, NamespaceTarget } from "./netns.js";
import { nsenterSpawn } from "./netns.js";

/**
 * Reads `/proc/self/net/dev` inside a network namespace that no process may live in (RootlessKit 2's
 * detached one): `nsenter -U --net=PATH -t CHILD cat /proc/self/net/dev`, a fixed argv run as the
 * namespace's owner (never root), killed after `timeoutMs`, its output bounded by `maxBytes`.
 * `/proc/self/net` follows the reading task's network namespace, so `cat` reads the one it entered.
 */
export function readNetDevIn(
  target: NamespaceTarget,
  owner: NamespaceOwner,
  options: { readonly timeoutMs: number; readonly maxBytes: number; readonly signal?: AbortSignal },
): Promise<ExecResult> {
  const how = nsenterSpawn(target, "cat", ["/proc/self/net/dev"], owner);
  const self = process.geteuid?.() === owner.uid;
  return runFile(how.file, how.args, {
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    ...(options.signal && { signal: options.signal }),
    ...(!self && { credentials: { uid: owner.uid, gid: owner.gid } }),
  });
}
