import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, gauge } from "../module.js";
import type { Target } from "../collector.js";
import type { ClientFacts } from "./client.js";
import { clientCollector } from "./client.js";
import { clientEndpoint, rootfulDockerd, rootfulSocketWritable } from "./checks.js";

const metrics = {
  rootfulDockerdRunning: gauge(
    "rootless_client_rootful_dockerd_running",
    [],
    "Whether a dockerd owned by root (a rootful daemon) runs on the host.",
  ),
  rootfulSocketWritable: gauge(
    "rootless_client_rootful_socket_writable",
    ["user"],
    "Whether the user may connect to /var/run/docker.sock, judged from the modes of it and its directories (0: none there).",
  ),
  endpointMatches: gauge(
    "rootless_client_endpoint_matches",
    ["user", "source"],
    "Whether the address the source sets (docker_host_unit, context) is the user's rootless socket; absent when none is set.",
  ),
  endpointInfo: gauge(
    "rootless_client_endpoint_info",
    ["user", "source", "kind"],
    "Where that address leads (unix_rootless, unix_rootful, unix_root_runtime, unix_other, tcp, ssh, other); value 1.",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

function addClient(out: Out, target: Target, facts: ClientFacts): void {
  const user = target.name;
  const pids = facts.rootfulDockerdPids;
  if (pids) out.add("rootfulDockerdRunning", {}, bool(pids.length > 0));
  const writable = facts.rootfulSocket.writable;
  // Unknown (the entry could not be looked at) is absent, never 0 (METRICS.md).
  if (writable !== undefined) out.add("rootfulSocketWritable", { user }, bool(writable));
  for (const endpoint of facts.endpoints) {
    const { source, kind } = endpoint;
    out.add("endpointMatches", { user, source }, bool(kind === "unix_rootless"));
    out.add("endpointInfo", { user, source, kind }, 1);
  }
}

export const clientModule = collectorModule({
  name: "client",
  collector: clientCollector,
  metrics,
  render: addClient,
  checks: [clientEndpoint, rootfulDockerd, rootfulSocketWritable],
});
