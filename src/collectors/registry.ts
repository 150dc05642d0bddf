import { cgroupModule } from "./cgroup/module.js";
import { clientModule } from "./client/module.js";
import type { Collector } from "./collector.js";
import { dbusModule } from "./dbus/module.js";
import { dockerModule } from "./docker/module.js";
import { kernelModule } from "./kernel/module.js";
import { lingerModule } from "./linger/module.js";
import { networkModule } from "./network/module.js";
import { probeModule } from "./probe/module.js";
import { rootlesskitModule } from "./rootlesskit/module.js";
import { subidModule } from "./subid/module.js";

/**
 * Every collector module, by name, in alphabetical order: the one list the collectors, their
 * flags, the metric catalogue (exporter/catalogue.ts) and the check list (checks/registry.ts)
 * are derived from. A new collector is one module folder and one line here.
 */
export const modules = {
  cgroup: cgroupModule,
  client: clientModule,
  dbus: dbusModule,
  docker: dockerModule,
  kernel: kernelModule,
  linger: lingerModule,
  network: networkModule,
  probe: probeModule,
  rootlesskit: rootlesskitModule,
  subid: subidModule,
};

type Modules = typeof modules;
export type CollectorName = keyof Modules;

/** The facts each collector produces, by collector name. */
export type FactsByCollector = {
  [K in CollectorName]: Modules[K]["collector"] extends Collector<infer F> ? F : never;
};

/** Every collector by name; flags and defaults are derived from it. */
export const collectors = Object.fromEntries(
  Object.entries(modules).map(([name, module]) => [name, module.collector]),
) as { readonly [K in CollectorName]: Collector<FactsByCollector[K]> };

/** The same, as a list. */
export const collectorList: readonly Collector<unknown>[] = Object.values(collectors);

/** The modules as a list, in the registry's order (the order series are written in). */
export const moduleList = Object.values(modules);
