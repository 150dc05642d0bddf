import type { GroupEntry, PasswdEntry } from "./accounts.js";
import { currentAccount, groupsOf, readGroups, readPasswd } from "./accounts.js";
import type { HostRoots } from "./paths.js";

/** The user whose rootless Docker is watched. Collectors take it as an argument. */
export interface Target {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** Primary and supplementary group ids, sorted. */
  readonly groups: readonly number[];
  /** $XDG_RUNTIME_DIR for the user: docker.sock, docker.pid and the user bus live here. */
  readonly runtimeDir: string;
}

export class TargetError extends Error {}

/**
 * The target named by `spec` (a login name or a numeric uid), or the account running the process.
 * XDG_RUNTIME_DIR is honoured only for the process's own account: another user's is /run/user/UID.
 */
export function resolveTarget(
  spec: string | undefined,
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[],
  env: NodeJS.ProcessEnv,
): Target {
  const self = currentAccount(passwd);
  let account = self;
  if (spec !== undefined) {
    const byName = passwd.find((entry) => entry.name === spec);
    const byUid = /^\d+$/.test(spec) ? passwd.find((e) => e.uid === Number(spec)) : undefined;
    const found = byName ?? byUid;
    if (!found) throw new TargetError(`no user "${spec}" in /etc/passwd`);
    account = found;
  }
  const ownRuntimeDir = account.uid === self.uid ? env["XDG_RUNTIME_DIR"] : undefined;
  return {
    ...account,
    groups: groupsOf(account, groups),
    runtimeDir:
      ownRuntimeDir && ownRuntimeDir.length > 0 ? ownRuntimeDir : `/run/user/${account.uid}`,
  };
}

/** resolveTarget on the passwd and group files under the root filesystem. */
export async function loadTarget(
  roots: HostRoots,
  spec: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Target> {
  const [passwd, groups] = await Promise.all([readPasswd(roots), readGroups(roots)]);
  return resolveTarget(spec, passwd, groups, env);
}
