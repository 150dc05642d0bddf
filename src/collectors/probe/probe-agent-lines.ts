import { isIP } from "node:net";
import { parseBoundedJson } from "../../host/bounded-json.js";
import type { ServedProbe } from "../../host/tcp-probe.js";

/*
 * The probe agent runs as the watched user, who can make it print anything (ptrace, a swapped
 * binary in their namespace): its lines are read like any other input the user controls.
 */

function parse(line: string): Record<string, unknown> {
  const json = parseBoundedJson(line);
  if (!json.ok)
    throw new Error(`the probe agent printed no JSON (${line.length} bytes, ${json.detail})`);
  const value = json.value;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error("the probe agent printed no JSON object");
  return value as Record<string, unknown>;
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** {"port":N} of `probe-agent serve`: the port it listens on in the namespace. */
export function parseAgentPort(line: string): number {
  const { port } = parse(line);
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
    throw new Error("the probe agent printed no valid port");
  return port as number;
}

/** {"peer":..., "report":{...}} of `probe-agent serve` after the transfer. */
export function parseServedProbe(line: string): ServedProbe {
  const { peer, report } = parse(line);
  const r = (typeof report === "object" && report !== null ? report : {}) as Record<
    string,
    unknown
  >;
  if (typeof peer !== "string" || isIP(peer) === 0)
    throw new Error("the probe agent reported no valid peer address");
  if (!finite(r["bytes"]) || !finite(r["seconds"]) || !finite(r["cpuSeconds"]))
    throw new Error("the probe agent reported no valid measurement");
  return {
    peer,
    report: { bytes: r["bytes"], seconds: r["seconds"], cpuSeconds: r["cpuSeconds"] },
  };
}
