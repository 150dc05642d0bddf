import { maxTimerMs, parseBytes, parseDuration } from "../../units.js";
import { exists } from "../../host/files.js";
import { detachedNetnsPath } from "../../host/netns.js";
import { rootlesskitBoolFlag } from "../../host/proc-parsers.js";
import type { UserCollector, UserContext as CollectorContext } from "../collector.js";
import { ProbeJournal } from "./probe-journal.js";
import { parseInfo, queryApi } from "../rootlesskit/rootlesskit-api.js";
import { forwardsImplicitly, probeImplicitPort } from "./probe-implicit.js";
import { discovery } from "../scans.js";
import { kept } from "../state.js";
import type { ProbeFacts, ProbePathFacts } from "./facts.js";
import {
  agentPath,
  probeClientAddress,
  unsupported,
  ProbeRun,
  probePort,
  probeNetwork,
} from "./probe-run.js";

export type { ProbeFacts, ProbePath, ProbePathFacts } from "./facts.js";
export { probeClientAddress, slirpGateway } from "./probe-run.js";

function durationOption(text: string, fallback: number): number {
  return parseDuration(text) ?? fallback;
}

export interface ProbeCollectorOptions {
  /**
   * Where the probe journal lives: a directory only the exporter's uid can write. By default
   * /run/rootless-exporter for root, $XDG_RUNTIME_DIR/rootless-exporter for a user.
   */
  readonly journalDir?: string;
}

/** A throughput probe is running (for any user): one at a time on the host. */
const probeLock = kept("probe.running", () => ({ running: false }));

export function createProbeCollector(
  options: ProbeCollectorOptions = {},
): UserCollector<ProbeFacts> {
  return {
    ...probeCollectorFace,
    async collect(ctx) {
      // One probe at a time on the whole host: two would measure each other's traffic.
      const lock = ctx.host.own(probeLock);
      if (lock.running) throw new Error("another probe is running");
      lock.running = true;
      try {
        const journal = ProbeJournal.forExporter(ctx.env, ctx.target.uid, options.journalDir);
        return await probe(ctx, journal);
      } finally {
        lock.running = false;
      }
    },
  };
}

const probeCollectorFace: Omit<UserCollector<ProbeFacts>, "collect"> = {
  name: "probe",
  description:
    "throughput of the port and network paths and source-IP propagation, measured (off by default)",
  scope: "user",
  defaultEnabled: false,
  defaultIntervalSeconds: 3600,
  options: [
    {
      name: "bytes",
      flag: "probe.bytes",
      help: "bytes streamed per path and probe, e.g. 64MiB",
      defaultValue: "64MiB",
      validate: (v) =>
        parseBytes(v) === undefined
          ? "expected a size such as 64MiB, 512KiB or 1000000"
          : undefined,
    },
    {
      name: "timeout",
      flag: "probe.timeout",
      help: "time allowed for each path of a probe",
      defaultValue: "10s",
      validate: (v) => {
        const ms = parseDuration(v);
        if (ms === undefined) return "expected a duration such as 10s";
        // A run may take twice this and 10 s more, and that too is a Node timer.
        return 2 * ms + 10_000 > maxTimerMs ? "expected at most 12 days" : undefined;
      },
    },
    {
      name: "network-target",
      flag: "probe.network-target",
      help: "address of this host, reachable from rootlesskit's namespace, for the network path (default: the host's loopback through the gateway, or with --disable-host-loopback an address of the default route's interface)",
      defaultValue: "",
      validate: (v) =>
        v === "" || /^[\d.]+$|^[0-9a-fA-F:]+$/.test(v) ? undefined : "expected an IP address",
    },
  ],
  runTimeoutMs: (option) => 2 * durationOption(option("timeout"), 10_000) + 10_000,
};

export const probeCollector: UserCollector<ProbeFacts> = createProbeCollector();

async function probe(ctx: CollectorContext, journal: ProbeJournal): Promise<ProbeFacts> {
  const { roots, target, note } = ctx;
  const bytes = parseBytes(ctx.option("bytes")) ?? 64 * 1024 * 1024;
  const timeoutMs = durationOption(ctx.option("timeout"), 10_000);
  const run = new ProbeRun(ctx, journal);
  const found = await discovery(ctx);
  const cleaned = await run.cleanUpEarlier(found);
  if (cleaned > 0) note(`removed ${cleaned} forwards or agents an earlier probe left behind`);
  if (!found.parent || !found.stateDir) {
    const why = "rootlesskit is not running";
    return { port: unsupported("port", why), network: unsupported("network", why) };
  }
  if (!(await exists(ctx.host.mounts, agentPath)))
    throw new Error(`the probe agent ${agentPath} is missing`);
  const answer = await queryApi(roots, found.stateDir.path, "/v1/info", parseInfo, {
    timeoutMs: ctx.rpcTimeoutMs,
    signal: ctx.signal,
    ownerUid: target.uid,
  });
  if (!answer.ok) {
    const why = `rootlesskit's API does not answer: ${answer.error}`;
    return { port: unsupported("port", why), network: unsupported("network", why) };
  }
  const info = answer.value;
  const childPid = info.childPid ?? found.child?.pid;
  if (childPid === undefined) {
    const why = "rootlesskit's child process is unknown";
    return { port: unsupported("port", why), network: unsupported("network", why) };
  }
  // Detached (RootlessKit 2's --detach-netns), the child is in the host's network namespace and
  // the containers' is $STATE_DIR/netns: the agent enters that one.
  const detached = rootlesskitBoolFlag(found.parent.argv, "detach-netns") === true;
  const netns = detached
    ? detachedNetnsPath(roots.procfs, childPid, found.stateDir.path)
    : undefined;
  if (detached && !netns) {
    const why =
      "rootlesskit runs with --detach-netns and its state dir is not a plain absolute path";
    return { port: unsupported("port", why), network: unsupported("network", why) };
  }
  const namespaces = { pid: childPid, ...(netns && { netns }) };
  const cpu = process.cpuUsage();
  try {
    // One path after the other: never two probes at once, and each path measured alone.
    const port = forwardsImplicitly(found.parent.argv, info)
      ? await probeImplicitPort({
          roots,
          uid: target.uid,
          parentPid: found.parent.pid,
          bytes,
          timeoutMs,
          clientAddress: probeClientAddress,
          startAgent: (args) => run.startAgent(namespaces, args),
        })
      : await probePort(
          run,
          ctx,
          found.stateDir.path,
          namespaces,
          info.portDriver?.driver,
          bytes,
          timeoutMs,
        );
    const network = await probeNetwork(
      run,
      ctx,
      found.parent,
      info.networkDriver?.driver,
      namespaces,
      bytes,
      timeoutMs,
    );
    const used = process.cpuUsage(cpu);
    ctx.info?.("probe finished", {
      port: summary(port),
      network: summary(network),
      exporterCpuSeconds: (used.user + used.system) / 1e6,
      agentCpuSeconds: port.agentCpuSeconds,
    });
    return { port, network };
  } finally {
    await run.forget();
  }
}

function summary(facts: ProbePathFacts): string {
  if (!facts.supported) return `unsupported (${facts.reason})`;
  if (!facts.ok) return `failed (${facts.error})`;
  const to = facts.target ? `, to ${facts.target.address} (${facts.target.from})` : "";
  return `${((facts.bytesPerSecond ?? 0) / 1e6).toFixed(1)} MB/s, peer ${facts.peer}${to}`;
}
