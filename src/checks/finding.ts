import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckInputOf, CheckOf, HostCheckInputOf } from "./verdict.js";

/** The check vocabulary (verdict.ts) bound to the facts of every collector. */
export * from "./verdict.js";

export type CheckInput = CheckInputOf<FactsByCollector>;
export type HostCheckInput = HostCheckInputOf<FactsByCollector>;
export type Check = CheckOf<FactsByCollector>;
