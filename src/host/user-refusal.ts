import type { Stats } from "node:fs";

/* What the walk of user-walk.ts answers when it does not use a path: its states and refusals. */

/** Why a path in a user's tree was not used; never thrown, always a fact. */
export type UserFileState =
  | "ok"
  | "missing"
  | "symlink"
  | "not_regular"
  | "not_directory"
  | "not_socket"
  | "foreign_owner"
  | "too_large"
  | "permission_denied"
  | "io_error";

export type UserFileRefusal = Exclude<UserFileState, "ok">;

/** What the last component must be. */
export type UserFileKind = "file" | "directory" | "socket";

export type UserStat =
  | { readonly ok: true; readonly stats: Stats }
  /** `stats` when the path exists but was refused (a foreign owner, the wrong kind). */
  | {
      readonly ok: false;
      readonly state: UserFileRefusal;
      readonly detail: string;
      readonly stats?: Stats;
    };

export type UserRead =
  | { readonly ok: true; readonly text: string; readonly stats: Stats }
  | { readonly ok: false; readonly state: UserFileRefusal; readonly detail: string };

export type Refusal = {
  readonly ok: false;
  readonly state: UserFileRefusal;
  readonly detail: string;
};

export const refuse = (state: UserFileRefusal, detail: string): Refusal => ({
  ok: false,
  state,
  detail,
});

export function failure(path: string, err: unknown): Refusal {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return refuse("missing", `${path} does not exist`);
    case "ENOTDIR":
      return refuse("not_directory", `a component of ${path} is not a directory`);
    case "EACCES":
    case "EPERM":
      return refuse("permission_denied", `${path}: permission denied`);
    case "ELOOP":
      return refuse("symlink", `${path} is a symbolic link, not followed`);
    default:
      return refuse("io_error", `${path}: ${code ?? "error"}`);
  }
}
