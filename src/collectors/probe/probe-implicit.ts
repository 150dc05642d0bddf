import { flagValue } from "../../host/proc-parsers.js";
import type { HostRoots } from "../../host/paths.js";
import type { NamespacedProcess } from "../../host/netns.js";
import { freeForwardablePort } from "../../host/port-range.js";
import { listensOn } from "../../host/tcp-listeners.js";
import type { ServedProbe } from "../../host/tcp-probe.js";
import { fetchOnce } from "../../host/tcp-probe.js";
import type { ProbePathFacts } from "./facts.js";
import type { RootlesskitInfo } from "../rootlesskit/rootlesskit-api.js";

/**
 * rootlesskit 2's implicit port driver: pasta runs with `--tcp-ports=auto` and, about once a
 * second, forwards the same port of the host to every port the namespace listens on. There is no
 * ports API (`/v1/info` has no portDriver), so the probe listens in the namespace on a port that
 * is free on the host and waits for pasta to take it.
 */
export function forwardsImplicitly(parentArgv: readonly string[], info: RootlesskitInfo): boolean {
  return (
    info.portDriver === undefined &&
    info.networkDriver?.driver === "pasta" &&
    flagValue(parentArgv, "--port-driver") === "implicit"
  );
}

export interface ImplicitProbe {
  readonly roots: HostRoots;
  readonly uid: number;
  /** rootlesskit's parent: pasta's forwards listen in its network namespace. */
  readonly parentPid: number;
  readonly bytes: number;
  readonly timeoutMs: number;
  readonly clientAddress: string;
  readonly startAgent: (args: string[]) => Promise<NamespacedProcess>;
}

/** pasta rescans the namespace's listening sockets every second (pasta(1), --tcp-ports auto). */
const forwardWaitMs = 5000;

export async function probeImplicitPort(probe: ImplicitProbe): Promise<ProbePathFacts> {
  const ranAt = Date.now();
  const { bytes, timeoutMs } = probe;
  let agent: NamespacedProcess | undefined;
  try {
    const port = await freeForwardablePort(probe.roots);
    agent = await probe.startAgent(["serve-at", String(port), String(bytes), String(timeoutMs)]);
    await agent.nextLine(timeoutMs);
    const deadline = Date.now() + Math.min(forwardWaitMs, timeoutMs);
    while (!(await listensOn(probe.roots, probe.parentPid, port, probe.uid))) {
      if (Date.now() > deadline)
        throw new Error(
          `pasta did not forward port ${port} within ${forwardWaitMs} ms (is it running with --tcp-ports=auto?)`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const report = await fetchOnce("127.0.0.1", port, bytes, timeoutMs, probe.clientAddress);
    const served = JSON.parse(await agent.nextLine(timeoutMs)) as ServedProbe;
    return {
      path: "port",
      supported: true,
      ok: true,
      ranAt,
      bytes: report.bytes,
      seconds: report.seconds,
      bytesPerSecond: report.seconds > 0 ? report.bytes / report.seconds : 0,
      peer: served.peer,
      sourceIpPropagated: served.peer === probe.clientAddress,
      agentCpuSeconds: report.cpuSeconds,
    };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return { path: "port", supported: true, ok: false, ranAt, error };
  } finally {
    agent?.kill();
    await agent?.exited;
  }
}
