import type { Collector, UserContext } from "../collector.js";
import { idleKey, keyPart, missingKey } from "../inputs.js";
import type { StaticPart } from "../live-inputs.js";
import { entryKey, liveWith, pathKey, runtimeDirKey, runtimeNames } from "../live-inputs.js";
import { kept } from "../state.js";
import { dockerUnit } from "../docker-unit.js";
import { discovery, processes, walkMemo } from "../scans.js";
import type { CurrentContext, EndpointKind } from "./endpoints.js";
import {
  contextMetaPath,
  endpointKind,
  expandSpecifiers,
  readCurrentContext,
} from "./endpoints.js";
import type { RootfulSocket, RootfulSocketScan } from "./rootful.js";
import { readRootfulSocket, rootfulDockerds, scanRootfulSocket } from "./rootful.js";

/** Where an address the user's docker CLI may use was found. */
export type EndpointSource = "docker_host_unit" | "context";

/** One address the user configured, and where it leads. */
export interface ClientEndpoint {
  readonly source: EndpointSource;
  /** As the user wrote it (specifiers expanded): quoted wherever it is shown, never a label. */
  readonly host: string;
  readonly kind: EndpointKind;
  /** The file that set it: the unit or drop-in, or the context's meta.json. */
  readonly file: string;
  /** The context's name, for source "context". */
  readonly context?: string;
}

/** Which daemon the user's client is wired to, and the rootful one beside it. */
export interface ClientFacts {
  /** The live rootless socket the addresses are compared with: $XDG_RUNTIME_DIR/docker.sock. */
  readonly rootlessSocket: string;
  /** dockerd processes of root's (the rootful daemon), in pid order; absent when hidden (hidepid). */
  readonly rootfulDockerdPids?: readonly number[];
  readonly rootfulSocket: RootfulSocket;
  /** The user's docker.service, when they have one (DOCKER_HOST is looked for in it). */
  readonly unitFile?: string;
  /**
   * The unit or drop-ins that are there but were not read (a symlink, not a regular file of the
   * user's, too large): whether they set DOCKER_HOST is unknown.
   */
  readonly unitRefused?: readonly string[];
  /** `currentContext` of ~/.docker/config.json, followed to its meta.json. */
  readonly context: CurrentContext;
  /** The addresses set: DOCKER_HOST in the unit's environment, the current context's endpoint. */
  readonly endpoints: readonly ClientEndpoint[];
}

/** Root's socket and the directories above it, looked at once a cycle for every user. */
const rootfulSocketScan = (ctx: UserContext): Promise<RootfulSocketScan> =>
  ctx.cycle.once(`rootful-socket\0${ctx.roots.rootfs}`, () =>
    scanRootfulSocket(ctx.roots, ctx.host.mounts),
  );

/** Root's dockerd processes, once a cycle for every user. */
const rootfulPids = async (ctx: UserContext): Promise<number[] | undefined> => {
  const { cycle, roots } = ctx;
  const table = await processes(cycle, roots);
  return cycle.once(`rootful-dockerds\0${roots.procfs}`, () => rootfulDockerds(roots, table));
};

/** Root's side, the same for every user this cycle: its dockerd processes and socket's entries. */
const rootfulKey = (ctx: UserContext): Promise<string> =>
  ctx.cycle.once("client-rootful-key", async () =>
    JSON.stringify([await rootfulPids(ctx), await rootfulSocketScan(ctx)]),
  );

/** Which context meta.json the last full run followed, for the key (live-inputs.ts). */
const lastStatic = kept("client.static", (): StaticPart<{ readonly meta?: string }> => ({
  part: undefined,
}));

export const clientCollector: Collector<ClientFacts> = {
  name: "client",
  description:
    "which daemon the user's docker CLI talks to, and a rootful dockerd and socket beside it",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  // No daemon, no docker.service, no ~/.docker/config.json: root's side (its dockerd processes,
  // its socket's entries, the same for everyone this cycle) is all that is left, and is the key.
  // Running: the same processes, runtime dir and docker.pid keep the user's dockerd; the same
  // unit, config.json and context meta.json keep the rest (nothing live: served as it is).
  inputs: async (ctx, again) => {
    const { home, runtimeDir } = ctx.target;
    const unit = `${home}/.config/systemd/user/docker.service`;
    const config = `${home}/.docker/config.json`;
    // idleWith's key for these three pieces (asked at once, only when the user is idle), without
    // a closure a piece, the frame and its arrays (asked every cycle for every idle user).
    const idle = await idleKey(ctx);
    if (idle !== undefined) {
      const [a, b, c] = await Promise.all([
        missingKey(ctx, unit, "file", again),
        missingKey(ctx, config, "file", again),
        rootfulKey(ctx),
      ]);
      if (a !== undefined && b !== undefined && c !== undefined)
        return keyPart(idle) + keyPart(a) + keyPart(b) + keyPart(c);
    }
    const part = ctx.state.own(lastStatic).part;
    if (!part) return undefined;
    return liveWith(
      ctx,
      () => runtimeDirKey(ctx, again),
      () => entryKey(ctx, runtimeDir, runtimeNames, "docker.pid", "file", again),
      () => pathKey(ctx, unit, "file", again),
      // Drop-ins are keyed only as missing: their files are not keyed one by one.
      async () => {
        const dropIns = await pathKey(ctx, `${unit}.d`, "directory", again);
        return dropIns?.startsWith("missing ") ? dropIns : undefined;
      },
      () => pathKey(ctx, config, "file", again),
      async () => JSON.stringify(part.meta ?? null),
      ...(part.meta === undefined ? [] : [() => pathKey(ctx, part.meta ?? "", "file", again)]),
      () => rootfulKey(ctx),
    );
  },
  async collect(ctx) {
    const { roots, target, cycle } = ctx;
    const keep = ctx.state.own(lastStatic);
    keep.part = undefined;
    const [found, rootfulSocket, unit, context] = await Promise.all([
      discovery(ctx),
      readRootfulSocket(roots, ctx.host.mounts, target, rootfulSocketScan(ctx)),
      dockerUnit(cycle, roots, target),
      readCurrentContext(roots, target, walkMemo(cycle)),
    ]);
    const endpoints: ClientEndpoint[] = [];
    const read = unit && !("refusedUnit" in unit) ? unit : undefined;
    const unitRefused = !unit ? [] : "refusedUnit" in unit ? [unit.unitFile] : unit.refused;
    const dockerHost = read?.env.get("DOCKER_HOST");
    if (dockerHost && dockerHost.value !== "") {
      const host = expandSpecifiers(dockerHost.value, target);
      const kind = endpointKind(host, target.runtimeDir);
      endpoints.push({ source: "docker_host_unit", host, kind, file: dockerHost.file });
    }
    if (context.state === "named") {
      const { name, host, file } = context;
      endpoints.push({
        source: "context",
        host,
        kind: endpointKind(host, target.runtimeDir),
        file,
        context: name,
      });
    }
    // A fixture host's user of uid 0 has their own dockerd among root's: not a rootful one.
    const rootfulDockerdPids = (await rootfulPids(ctx))?.filter(
      (pid) => pid !== found.dockerd?.pid,
    );
    // The context's meta.json, for the key (a name that cannot be followed leaves no key).
    const meta =
      context.state === "named" || context.state === "not_found"
        ? contextMetaPath(target.home, context.name)
        : undefined;
    keep.part =
      context.state === "default" || meta !== undefined ? (meta ? { meta } : {}) : undefined;
    return {
      rootlessSocket: `${target.runtimeDir}/docker.sock`,
      ...(rootfulDockerdPids && { rootfulDockerdPids }),
      rootfulSocket,
      ...(unit && { unitFile: unit.unitFile }),
      ...(unitRefused.length > 0 && { unitRefused }),
      context,
      endpoints,
    };
  },
};
