import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import { maxJsonChars, parseBoundedJson } from "../../host/bounded-json.js";
import { unixHttp } from "../../host/unix-http.js";
import { userSocketHttp } from "../../host/user-socket.js";
import type { Cycle } from "../state.js";

/** Shapes of rootlesskit's REST API (pkg/api, v1), validated from `unknown`: any field may be absent. */

export interface RootlesskitInfo {
  readonly apiVersion?: string;
  readonly version?: string;
  readonly stateDir?: string;
  readonly childPid?: number;
  readonly networkDriver?: {
    readonly driver?: string;
    readonly childIp?: string;
    readonly dns: readonly string[];
  };
  readonly portDriver?: { readonly driver?: string; readonly protos: readonly string[] };
}

export interface PortForward {
  readonly id: number;
  readonly proto: string;
  readonly parentIp?: string;
  readonly parentPort: number;
  readonly childPort: number;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const int = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isInteger(value) ? value : undefined;
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** GET /v1/info. Undefined when the body is not an object at all. */
export function parseInfo(body: unknown): RootlesskitInfo | undefined {
  const info = record(body);
  if (!info) return undefined;
  const net = record(info["networkDriver"]);
  const port = record(info["portDriver"]);
  return defined({
    apiVersion: str(info["apiVersion"]),
    version: str(info["version"]),
    stateDir: str(info["stateDir"]),
    childPid: int(info["childPID"]),
    networkDriver:
      net &&
      defined({
        driver: str(net["driver"]),
        childIp: str(net["childIP"]),
        dns: strings(net["dns"]),
      }),
    portDriver: port && defined({ driver: str(port["driver"]), protos: strings(port["protos"]) }),
  });
}

/** GET /v1/ports: an array of { id, spec: { proto, parentIP, parentPort, childPort } }, or null. */
export function parsePorts(body: unknown): PortForward[] | undefined {
  if (body === null) return [];
  if (!Array.isArray(body)) return undefined;
  const ports: PortForward[] = [];
  for (const entry of body) {
    const status = record(entry);
    const spec = record(status?.["spec"]);
    const id = int(status?.["id"]);
    const proto = str(spec?.["proto"]);
    const parentPort = int(spec?.["parentPort"]);
    const childPort = int(spec?.["childPort"]);
    if (id === undefined || !proto || parentPort === undefined || childPort === undefined) continue;
    ports.push(defined({ id, proto, parentIp: str(spec?.["parentIP"]), parentPort, childPort }));
  }
  return ports;
}

export type ApiAnswer<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export interface ApiOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Bound on the answer's bytes; the JSON bound's (256 KiB) unless given. */
  readonly maxBytes?: number;
  /** The watched user: api.sock must be their socket when the exporter is someone else. */
  readonly ownerUid?: number;
}

/** GET a path of api.sock in `stateDir` and validate the answer with `parse`. */
export async function queryApi<T>(
  roots: HostRoots,
  stateDir: string,
  path: string,
  parse: (body: unknown) => T | undefined,
  options: ApiOptions,
): Promise<ApiAnswer<T>> {
  const socket = rootPath(roots, `${stateDir}/api.sock`);
  const request = { maxBytes: maxJsonChars, ...options };
  const result =
    options.ownerUid === undefined
      ? await unixHttp(socket, path, request)
      : await userSocketHttp(socket, options.ownerUid, path, request);
  if (!result.ok) return { ok: false, error: result.detail };
  const json =
    result.status === 200
      ? parseBoundedJson(result.body, { maxChars: request.maxBytes })
      : undefined;
  const value = json?.ok ? parse(json.value) : undefined;
  if (value === undefined)
    return {
      ok: false,
      error: `GET ${path} answered ${result.status} with an unexpected body${json?.ok === false ? ` (${json.detail})` : ""}`,
    };
  return { ok: true, value };
}

/**
 * GET /v1/info on the state dir's api.sock, once per cycle and user: by the state dir alone,
 * a user naming another's state dir first had their refusal handed to its owner.
 */
export function cycleInfo(
  cycle: Cycle,
  roots: HostRoots,
  stateDir: string,
  options: ApiOptions,
  socketMissing = false,
): Promise<ApiAnswer<RootlesskitInfo>> {
  return cycle.once(`rootlesskit-info\0${options.ownerUid ?? "self"}\0${stateDir}`, () =>
    socketMissing
      ? missingSocketAnswer(roots, stateDir)
      : queryApi(roots, stateDir, "/v1/info", parseInfo, options),
  );
}

/**
 * What a request on another user's api.sock answers when the socket is not there
 * (userSocketHttp's wording), for a state dir whose look this cycle found no api.sock: the same
 * answer without a walk to it (live-inputs.ts entryNow).
 */
export function missingSocketAnswer<T>(roots: HostRoots, stateDir: string): Promise<ApiAnswer<T>> {
  const socket = rootPath(roots, `${stateDir}/api.sock`);
  return Promise.resolve({ ok: false, error: `not connecting: ${socket} does not exist` });
}
