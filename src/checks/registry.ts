import { moduleList } from "../collectors/registry.js";
import type { FactsByCollector } from "../collectors/registry.js";
import { dataRootOverlay } from "./data-root-overlay.js";
import { detachNetns, detachNetnsDockerd } from "./detach-netns.js";
import { dockerService, dockerServiceEnabled } from "./docker-service.js";
import type { Check, CheckInput, Finding } from "./finding.js";
import { iptablesBinary } from "./iptables-binary.js";
import { networkDriver, networkMtu, sourceIpPropagation } from "./network-checks.js";
import { storageDriver } from "./storage-driver.js";

/** The checks that read the facts of several collectors (each says which it reads). */
const acrossCollectors: readonly Check[] = [
  dataRootOverlay,
  detachNetns,
  detachNetnsDockerd,
  dockerService,
  dockerServiceEnabled,
  iptablesBinary,
  networkDriver,
  networkMtu,
  sourceIpPropagation,
  storageDriver,
];

/** Every check, in alphabetical order of id: each module's own, and those across collectors. */
export const checks: readonly Check[] = [
  ...moduleList.flatMap((module): readonly Check[] => module.checks),
  ...acrossCollectors,
].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

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
