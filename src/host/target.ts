/** A user whose rootless Docker is watched. User collectors take it as an argument. */
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

/** A --target.user that names nobody: main prints it on one line and exits 2. */
export class TargetError extends Error {}
