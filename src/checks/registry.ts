import {
  dataRootNfs,
  dockerdRunning,
  networkDriver,
  networkMtu,
  rootlesskitRunning,
  sourceIpPropagation,
  stateDirStale,
  storageDriver,
} from "../collectors/docker/checks.js";
import type { FactsByCollector } from "../collectors/registry.js";
import type { Check, CheckInput, Finding } from "./finding.js";
import {
  apparmorUserNs,
  cgroupV2,
  idmapHelpers,
  iptablesModules,
  maxUserNamespaces,
  privilegedPorts,
  userNsClone,
} from "../collectors/kernel/checks.js";
import { iptablesBinary } from "./iptables-binary.js";
import {
  cgroupDelegation,
  dbusUserBus,
  dockerService,
  linger,
  pingGroupRange,
  subgidRange,
  subidOverlap,
  subuidRange,
  xdgRuntimeDir,
} from "../collectors/subid/checks.js";

/** Every check, in alphabetical order of id. */
export const checks: readonly Check[] = [
  apparmorUserNs,
  cgroupDelegation,
  cgroupV2,
  dataRootNfs,
  dbusUserBus,
  dockerService,
  dockerdRunning,
  idmapHelpers,
  iptablesBinary,
  iptablesModules,
  linger,
  maxUserNamespaces,
  networkDriver,
  networkMtu,
  pingGroupRange,
  privilegedPorts,
  rootlesskitRunning,
  sourceIpPropagation,
  stateDirStale,
  storageDriver,
  subgidRange,
  subidOverlap,
  subuidRange,
  userNsClone,
  xdgRuntimeDir,
];

/** Every check on the latest facts: the one source for /metrics, /checks and `check`. */
export function evaluateChecks(input: CheckInput): Finding[] {
  return checks.map((check) => ({
    id: check.id,
    severity: check.severity,
    scope: check.scope,
    ...check.evaluate(input),
  }));
}

/** The host checks alone, on the host's facts: what there is to say when nobody is watched. */
export function evaluateHostChecks(facts: Partial<FactsByCollector>): Finding[] {
  return checks.flatMap((check) =>
    check.scope === "host"
      ? [
          {
            id: check.id,
            severity: check.severity,
            scope: check.scope,
            ...check.evaluate({ facts }),
          },
        ]
      : [],
  );
}

/** Nagios plugin convention: 2 a critical fails, 1 a warning fails, 3 a critical or warning is unknown. */
export function exitCode(findings: readonly Finding[]): 0 | 1 | 2 | 3 {
  const failing = findings.filter((f) => f.state === "fail");
  if (failing.some((f) => f.severity === "critical")) return 2;
  if (failing.some((f) => f.severity === "warning")) return 1;
  if (findings.some((f) => f.state === "unknown" && f.severity !== "info")) return 3;
  return 0;
}
