import { createHash } from "node:crypto";
import { posix } from "node:path";
import { parseBoundedJson } from "../../host/bounded-json.js";
import { readOwnedFile } from "../../host/owned-file.js";
import type { OwnedFileResult } from "../../host/owned-file.js";
import type { WalkMemo } from "../../host/walk-memo.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import type { Target } from "../../host/target.js";

/*
 * Where the user's docker CLI connects: an address (DOCKER_HOST, a context's Endpoints.docker.Host)
 * sorted into a closed set of kinds, and the current context of ~/.docker/config.json followed to
 * its meta.json the way the CLI does (docker/cli cli/context/store: meta/<sha256 of name>/).
 */

/** Where an address leads, as a closed label set (the address itself is the user's text). */
export const endpointKinds = [
  "unix_rootless",
  "unix_rootful",
  "unix_root_runtime",
  "unix_other",
  "tcp",
  "ssh",
  "other",
] as const;
export type EndpointKind = (typeof endpointKinds)[number];

/** The rootful daemon's default socket, by both of its names (/var/run is a link to /run). */
export const rootfulSockets = ["/var/run/docker.sock", "/run/docker.sock"];

/**
 * unix_rootless: the user's own rootless socket ($XDG_RUNTIME_DIR/docker.sock); unix_rootful:
 * the system daemon's; unix_root_runtime: a socket in root's runtime dir /run/user/0 (what `su`
 * or `sudo` leave in XDG_RUNTIME_DIR, docker-install 208); unix_other: any other socket.
 */
export function endpointKind(host: string, runtimeDir: string): EndpointKind {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(host)?.[1]?.toLowerCase();
  if (scheme === "tcp") return "tcp";
  if (scheme === "ssh") return "ssh";
  if (scheme !== "unix") return "other";
  const raw = host.slice("unix://".length);
  if (!raw.startsWith("/") || raw.includes("\0")) return "other";
  const path = posix.normalize(raw).replace(/(.)\/+$/, "$1");
  if (path === posix.normalize(`${runtimeDir}/docker.sock`)) return "unix_rootless";
  if (rootfulSockets.includes(path)) return "unix_rootful";
  if (path.startsWith("/run/user/0/")) return "unix_root_runtime";
  return "unix_other";
}

/**
 * systemd's specifiers in a user unit's Environment= value (systemd.unit(5)): %t is the
 * runtime dir, %h the home, %U the uid, %u the name, %% a percent sign; others are left as written.
 */
export function expandSpecifiers(value: string, target: Target): string {
  const by: Readonly<Record<string, string>> = {
    "%": "%",
    t: target.runtimeDir,
    h: target.home,
    U: String(target.uid),
    u: target.name,
  };
  return value.replace(/%(.)/g, (whole, c: string) => by[c] ?? whole);
}

/** Why a file of the user's gave no value: never its content. */
export type FileState =
  "missing" | "unsafe" | "too_large" | "too_deep" | "unreadable" | "malformed";

export type CurrentContext =
  /** No config.json, no currentContext, or "default": the CLI's default context. */
  | { readonly state: "default" }
  | {
      readonly state: "named";
      readonly name: string;
      readonly host: string;
      /** The context's meta.json. */
      readonly file: string;
    }
  /** The name is not one docker accepts, or its meta.json has no docker endpoint. */
  | { readonly state: "invalid"; readonly file: string }
  /** The context named has no meta.json (the CLI says "context ... not found"). */
  | { readonly state: "not_found"; readonly name: string }
  | { readonly state: "refused"; readonly file: string; readonly reason: FileState };

/** docker/cli's rule for a context name (cli/command/context: restrictedNamePattern). */
const contextName = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;
const maxConfigBytes = 256 * 1024;
const maxMetaBytes = 64 * 1024;

type Parsed =
  | { readonly ok: true; readonly value: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly reason: FileState };

/** A file of the user's as a JSON object: bounded in bytes, characters and nesting. */
function jsonObject(read: OwnedFileResult, maxChars: number): Parsed {
  if (!read.ok) return { ok: false, reason: read.reason };
  const json = parseBoundedJson(read.text, { maxChars });
  const value = json.ok ? json.value : undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { ok: false, reason: json.ok || json.reason === "invalid" ? "malformed" : json.reason };
  return { ok: true, value: value as Record<string, unknown> };
}

const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;

export function contextMetaPath(home: string, name: string): string {
  const digest = createHash("sha256").update(name).digest("hex");
  return `${home}/.docker/contexts/meta/${digest}/meta.json`;
}

/**
 * `currentContext` of ~/.docker/config.json and, for a named context, the docker endpoint of its
 * meta.json. Both files are the user's: their own, reached without a symlink, bounded. DOCKER_CONFIG
 * and DOCKER_CONTEXT live in the user's shell, which the exporter cannot see: not followed.
 */
export async function readCurrentContext(
  roots: HostRoots,
  target: Target,
  memo?: WalkMemo,
): Promise<CurrentContext> {
  const file = `${target.home}/.docker/config.json`;
  const read = await readOwnedFile(rootPath(roots, file), target.uid, maxConfigBytes, memo);
  if (!read.ok && read.reason === "missing") return { state: "default" };
  const config = jsonObject(read, maxConfigBytes);
  if (!config.ok) return { state: "refused", file, reason: config.reason };
  const name = config.value["currentContext"];
  if (name === undefined || name === "" || name === "default") return { state: "default" };
  if (typeof name !== "string" || !contextName.test(name) || name.length > 256)
    return { state: "invalid", file };
  const metaFile = contextMetaPath(target.home, name);
  const metaRead = await readOwnedFile(rootPath(roots, metaFile), target.uid, maxMetaBytes, memo);
  if (!metaRead.ok && metaRead.reason === "missing") return { state: "not_found", name };
  const meta = jsonObject(metaRead, maxMetaBytes);
  if (!meta.ok) return { state: "refused", file: metaFile, reason: meta.reason };
  const host = field(field(meta.value["Endpoints"], "docker"), "Host");
  if (typeof host !== "string" || host === "") return { state: "invalid", file: metaFile };
  return { state: "named", name, host, file: metaFile };
}
