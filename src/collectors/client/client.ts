import type { Collector, UserContext } from "../collector.js";
import { idleWith, missingKey } from "../inputs.js";
import { dockerUnit } from "../docker-unit.js";
import { discovery, processes, walkMemo } from "../scans.js";
import type { CurrentContext, EndpointKind } from "./endpoints.js";
import { endpointKind, expandSpecifiers, readCurrentContext } from "./endpoints.js";
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

export const clientCollector: Collector<ClientFacts> = {
  name: "client",
  description:
    "which daemon the user's docker CLI talks to, and a rootful dockerd and socket beside it",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  // No daemon, no docker.service, no ~/.docker/config.json: root's side (its dockerd processes,
  // its socket's entries, the same for everyone this cycle) is all that is left, and is the key.
  inputs: (ctx, again) =>
    idleWith(
      ctx,
      () =>
        missingKey(ctx, `${ctx.target.home}/.config/systemd/user/docker.service`, "file", again),
      () => missingKey(ctx, `${ctx.target.home}/.docker/config.json`, "file", again),
      () =>
        ctx.cycle.once("client-rootful-key", async () =>
          JSON.stringify([await rootfulPids(ctx), await rootfulSocketScan(ctx)]),
        ),
    ),
  async collect(ctx) {
    const { roots, target, cycle } = ctx;
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
