import { cgroupCollector } from "./cgroup.js";
import type { CgroupFacts } from "./cgroup.js";
import type { Collector } from "./collector.js";
import { kernelCollector } from "./kernel.js";
import type { KernelFacts } from "./kernel.js";
import { lingerCollector } from "./linger.js";
import type { LingerFacts } from "./linger.js";
import { subidCollector } from "./subid.js";
import type { SubidFacts } from "./subid.js";

/** The facts each collector produces, by collector name. */
export interface FactsByCollector {
  cgroup: CgroupFacts;
  kernel: KernelFacts;
  linger: LingerFacts;
  subid: SubidFacts;
}

export type CollectorName = keyof FactsByCollector;

/** Every collector, in alphabetical order; flags and defaults are derived from this list. */
export const collectors: readonly Collector<FactsByCollector[CollectorName]>[] = [
  cgroupCollector,
  kernelCollector,
  lingerCollector,
  subidCollector,
];

export function findCollector(name: string): Collector<unknown> | undefined {
  return collectors.find((collector) => collector.name === name);
}
