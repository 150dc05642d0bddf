import { fileURLToPath } from "node:url";
import { rootPath } from "../../host/paths.js";
import { killProcess, withArgv } from "../../host/proc.js";
import { flagValue } from "../../host/proc-parsers.js";
import type { ProbeReport } from "../../host/tcp-probe.js";
import { fetchOnce, listen, portOf, serveOnce } from "../../host/tcp-probe.js";
import { runInNamespaces } from "../../host/netns.js";
import type { NamespacedProcess, NamespaceTarget } from "../../host/netns.js";
import type { UnixHttpResult } from "../../host/unix-http.js";
import { parseJson } from "../../host/unix-http.js";
import { userSocketHttp } from "../../host/user-socket.js";
import type { UserContext as CollectorContext } from "../collector.js";
import type { RootlessProcesses } from "../../host/discovery.js";
import { checkPid } from "../../host/pid-files.js";
import { parseAgentPort, parseServedProbe } from "./probe-agent-lines.js";
import type { Leftovers } from "./probe-journal.js";
import type { ProbeJournal } from "./probe-journal.js";
import type { ProbePath, ProbePathFacts } from "./facts.js";
import { hostTarget } from "./probe-target.js";

/** One probe run: its leftovers journal, and the port and network paths it measures. */

export const agentPath = fileURLToPath(new URL("../../probe-agent.js", import.meta.url));
/** The port probe connects from this loopback address: seen by the sink only if rootlesskit propagates it. */
export const probeClientAddress = "127.0.0.2";

export const unsupported = (path: ProbePath, reason: string): ProbePathFacts => ({
  path,
  supported: false,
  reason,
});

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A request on rootlesskit's api.sock in `stateDir`, which must be the user's own socket. */
export function apiRequest(
  ctx: CollectorContext,
  stateDir: string,
  path: string,
  options: { method: string; body?: string },
): Promise<UnixHttpResult> {
  const socket = rootPath(ctx.roots, `${stateDir}/api.sock`);
  return userSocketHttp(socket, ctx.target.uid, path, { ...options, timeoutMs: ctx.rpcTimeoutMs });
}

export class ProbeRun {
  private readonly leftovers: { forwards: Leftovers["forwards"][number][]; agents: number[] } = {
    forwards: [],
    agents: [],
  };
  constructor(
    private readonly ctx: CollectorContext,
    private readonly journal: ProbeJournal,
  ) {}

  async remember(update: (l: ProbeRun["leftovers"]) => void): Promise<void> {
    update(this.leftovers);
    await this.journal.write(this.leftovers);
  }

  async forget(): Promise<void> {
    await this.journal.remove();
  }

  /**
   * Removes forwards and kills agents an earlier run left (an exporter crash, a kill -9), as far
   * as they still match what is running for the user now: a forward only in the state dir that
   * discovery found, an agent only while /proc shows it is the user's probe agent.
   */
  async cleanUpEarlier(found: RootlessProcesses): Promise<number> {
    const saved = await this.journal.read();
    if (saved.malformed) this.ctx.note(`probe journal ignored: ${saved.malformed}`);
    const earlier = saved.leftovers;
    let removed = 0;
    for (const forward of earlier?.forwards ?? []) {
      // Forwards die with their rootlesskit: one in another state dir is gone or not ours.
      if (forward.stateDir !== found.stateDir?.path) continue;
      const result = await apiRequest(this.ctx, forward.stateDir, `/v1/ports/${forward.id}`, {
        method: "DELETE",
      });
      if (result.ok && result.status < 300) removed++;
    }
    for (const pid of earlier?.agents ?? []) {
      // Only a process that is still our agent: pids are reused.
      const check = await checkPid(this.ctx.roots, pid, this.ctx.target.uid, [
        "nsenter",
        "node",
        "nodejs",
      ]);
      const agent = check.process && (await withArgv(this.ctx.roots, check.process));
      if (agent?.argv.some((arg) => arg === agentPath)) {
        killProcess(pid);
        removed++;
      }
    }
    if (earlier || saved.malformed) await this.forget();
    return removed;
  }

  /** Starts the agent in rootlesskit's namespace: the child's, or `netns` when detached. */
  async startAgent(namespaces: NamespaceTarget, args: string[]): Promise<NamespacedProcess> {
    const { uid, gid } = this.ctx.target;
    const agent = runInNamespaces(namespaces, process.execPath, [agentPath, ...args], { uid, gid });
    if (agent.pid !== undefined) {
      const pid = agent.pid;
      await this.remember((l) => l.agents.push(pid));
    }
    return agent;
  }
}

export function throughput(path: ProbePath, report: ProbeReport, ranAt: number): ProbePathFacts {
  return {
    path,
    supported: true,
    ok: true,
    ranAt,
    bytes: report.bytes,
    seconds: report.seconds,
    bytesPerSecond: report.seconds > 0 ? report.bytes / report.seconds : 0,
  };
}

/**
 * Through rootlesskit's port driver, as `docker run -p` traffic goes: the exporter connects to the
 * forward from 127.0.0.2 and downloads from the agent, which serves inside the namespace and
 * reports the address it saw.
 */
export async function probePort(
  run: ProbeRun,
  ctx: CollectorContext,
  stateDir: string,
  namespaces: NamespaceTarget,
  portDriver: string | undefined,
  bytes: number,
  timeoutMs: number,
): Promise<ProbePathFacts> {
  if (!portDriver)
    return unsupported(
      "port",
      "rootlesskit reports no port driver, and it is not pasta's implicit one (started with --port-driver=implicit)",
    );
  const ranAt = Date.now();
  const agent = await run.startAgent(namespaces, ["serve", String(bytes), String(timeoutMs)]);
  let forward: number | undefined;
  try {
    const childPort = parseAgentPort(await agent.nextLine(timeoutMs));
    const parentPort = await freeLoopbackPort();
    const body = JSON.stringify({ proto: "tcp", parentIP: "127.0.0.1", parentPort, childPort });
    const created = await apiRequest(ctx, stateDir, "/v1/ports", { method: "POST", body });
    const status = created.ok
      ? (parseJson(created.body) as { id?: unknown } | undefined)
      : undefined;
    if (!created.ok || typeof status?.id !== "number") {
      throw new Error(
        `POST /v1/ports failed: ${created.ok ? created.body.trim() : created.detail}`,
      );
    }
    forward = status.id;
    const id = forward;
    await run.remember((l) => l.forwards.push({ stateDir, id }));
    const report = await fetchOnce("127.0.0.1", parentPort, bytes, timeoutMs, probeClientAddress);
    const served = parseServedProbe(await agent.nextLine(timeoutMs));
    return {
      ...throughput("port", report, ranAt),
      peer: served.peer,
      sourceIpPropagated: served.peer === probeClientAddress,
      agentCpuSeconds: report.cpuSeconds,
    };
  } catch (err) {
    return { path: "port", supported: true, ok: false, ranAt, error: describe(err) };
  } finally {
    agent.kill();
    if (forward !== undefined) {
      await apiRequest(ctx, stateDir, `/v1/ports/${forward}`, { method: "DELETE" });
    }
    await agent.exited;
  }
}

/** A free TCP port on the host's loopback for the forward's parent side. */
export async function freeLoopbackPort(): Promise<number> {
  const server = await listen("127.0.0.1");
  const port = portOf(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The gateway slirp4netns gives the namespace: the second address of --cidr (10.0.2.2 by default). */
export function slirpGateway(cidr: string | undefined): string | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/\d+$/.exec(cidr ?? "10.0.2.0/24");
  if (!match) return undefined;
  return `${match[1]}.${match[2]}.${match[3]}.${Number(match[4]) + 2}`;
}

/**
 * Through the network driver, as containers' traffic with the outside goes (a pull, a download):
 * the agent in the namespace connects out to a listener of the exporter and downloads from it.
 */
export async function probeNetwork(
  run: ProbeRun,
  ctx: CollectorContext,
  parent: { readonly pid: number; readonly argv: readonly string[] },
  driver: string | undefined,
  namespaces: NamespaceTarget,
  bytes: number,
  timeoutMs: number,
): Promise<ProbePathFacts> {
  const target = ctx.option("network-target");
  const parentArgv = parent.argv;
  const viaGateway = driver === "slirp4netns" || driver === "pasta";
  let listenOn: string;
  let connectTo: string;
  let from: "flag" | "gateway" | "host" = "flag";
  // Listening on a host address, anyone could connect first: only the host's own addresses
  // (slirp4netns and pasta connect from there) are served.
  let accept: ((peer: string) => boolean) | undefined;
  if (target !== "") {
    listenOn = target;
    connectTo = target;
  } else if (viaGateway && !parentArgv.includes("--disable-host-loopback")) {
    // rootlesskit gives pasta the same gateway as slirp4netns (--cidr) and, without
    // --disable-host-loopback, no --no-map-gw: pasta then maps the gateway to the host's loopback.
    const gateway = slirpGateway(flagValue(parentArgv, "--cidr"));
    if (!gateway)
      return unsupported("network", `cannot tell ${driver}'s gateway from rootlesskit's --cidr`);
    listenOn = "127.0.0.1";
    connectTo = gateway;
    from = "gateway";
  } else if (viaGateway) {
    // Docker's default: no host loopback, but an address of the host's own is reachable.
    const found = await hostTarget(ctx.roots, parent.pid, parentArgv);
    if (!found.ok)
      return unsupported(
        "network",
        `rootlesskit runs with --disable-host-loopback and ${found.reason}; set --probe.network-target to an address of this host that the namespace can reach`,
      );
    listenOn = found.address;
    connectTo = found.address;
    from = "host";
    accept = (peer) => found.locals.includes(peer);
  } else {
    return unsupported(
      "network",
      `the ${driver ?? "unknown"} driver gives no known path to this host; set --probe.network-target to an address of this host that the namespace can reach`,
    );
  }
  const ranAt = Date.now();
  let agent: NamespacedProcess | undefined;
  try {
    const server = await listen(listenOn);
    const served = serveOnce(server, bytes, timeoutMs, accept);
    const port = String(portOf(server));
    agent = await run.startAgent(namespaces, [
      "fetch",
      connectTo,
      port,
      String(bytes),
      String(timeoutMs),
    ]);
    const { report } = await served;
    return {
      ...throughput("network", report, ranAt),
      agentCpuSeconds: report.cpuSeconds,
      target: { address: connectTo, from },
    };
  } catch (err) {
    return { path: "network", supported: true, ok: false, ranAt, error: describe(err) };
  } finally {
    agent?.kill();
    await agent?.exited;
  }
}
