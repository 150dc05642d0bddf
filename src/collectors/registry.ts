import { cgroupCollector } from "./cgroup.js";
import type { CgroupFacts } from "./cgroup.js";
import type { Collector } from "./collector.js";
import { dbusCollector } from "./dbus.js";
import type { DbusFacts } from "./dbus.js";
import { dockerCollector } from "./docker.js";
import type { DockerFacts } from "./docker.js";
import { kernelCollector } from "./kernel.js";
import type { KernelFacts } from "./kernel.js";
import { lingerCollector } from "./linger.js";
import type { LingerFacts } from "./linger.js";
import { networkCollector } from "./network.js";
import type { NetworkFacts } from "./network.js";
import { probeCollector } from "./probe.js";
import type { ProbeFacts } from "./probe.js";
import { rootlesskitCollector } from "./rootlesskit.js";
import type { RootlesskitFacts } from "./rootlesskit.js";
import { subidCollector } from "./subid.js";
import type { SubidFacts } from "./subid.js";

/** The facts each collector produces, by collector name. */
export interface FactsByCollector {
  cgroup: CgroupFacts;
  dbus: DbusFacts;
  docker: DockerFacts;
  kernel: KernelFacts;
  linger: LingerFacts;
  network: NetworkFacts;
  probe: ProbeFacts;
  rootlesskit: RootlesskitFacts;
  subid: SubidFacts;
}

export type CollectorName = keyof FactsByCollector;

/** Every collector by name, in alphabetical order; flags and defaults are derived from it. */
export const collectors: { readonly [K in CollectorName]: Collector<FactsByCollector[K]> } = {
  cgroup: cgroupCollector,
  dbus: dbusCollector,
  docker: dockerCollector,
  kernel: kernelCollector,
  linger: lingerCollector,
  network: networkCollector,
  probe: probeCollector,
  rootlesskit: rootlesskitCollector,
  subid: subidCollector,
};

/** The same, as a list. */
export const collectorList: readonly Collector<unknown>[] = Object.values(collectors);
