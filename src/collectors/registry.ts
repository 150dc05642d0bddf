import { cgroupCollector } from "./cgroup/cgroup.js";
import type { CgroupFacts } from "./cgroup/cgroup.js";
import type { Collector } from "./collector.js";
import { dbusCollector } from "./dbus/dbus.js";
import type { DbusFacts } from "./dbus/dbus.js";
import { dockerCollector } from "./docker/docker.js";
import type { DockerFacts } from "./docker/docker.js";
import { kernelCollector } from "./kernel/kernel.js";
import type { KernelFacts } from "./kernel/kernel.js";
import { lingerCollector } from "./linger/linger.js";
import type { LingerFacts } from "./linger/linger.js";
import { networkCollector } from "./network/network.js";
import type { NetworkFacts } from "./network/network.js";
import { probeCollector } from "./probe/probe.js";
import type { ProbeFacts } from "./probe/probe.js";
import { rootlesskitCollector } from "./rootlesskit/rootlesskit.js";
import type { RootlesskitFacts } from "./rootlesskit/rootlesskit.js";
import { subidCollector } from "./subid/subid.js";
import type { SubidFacts } from "./subid/subid.js";

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
