import { readKernelText, readText, statKernelPath } from "../../host/files.js";
import type { MountTable } from "../../host/mount-table.js";
import type { KernelConfig } from "../../host/kernel-config.js";
import { KernelConfigSlot, readKernelConfig } from "../../host/kernel-config.js";
import type { HostRoots } from "../../host/paths.js";
import { procPath, rootPath, sysPath } from "../../host/paths.js";
import {
  normalizeModule,
  parseModulesBuiltin,
  parseProcModules,
} from "../../host/kernel-parsers.js";

/**
 * Four different facts: compiled into the kernel, a module that is loaded, a module that is
 * installed but not loaded, and neither. Each comes with the evidence that decided it.
 */
export type ModuleState = "builtin" | "loaded" | "loadable" | "absent";

export interface ModuleFact {
  readonly state: ModuleState;
  /** What decided it, e.g. "/proc/config.gz: CONFIG_NF_TABLES=y". */
  readonly evidence: string;
}

/** The Kconfig symbol of each watched module (for the kernel config, where modules have no name). */
export const configSymbols: Readonly<Record<string, string>> = {
  fuse: "CONFIG_FUSE_FS",
  ip_tables: "CONFIG_IP_NF_IPTABLES",
  iptable_filter: "CONFIG_IP_NF_FILTER",
  iptable_mangle: "CONFIG_IP_NF_MANGLE",
  iptable_nat: "CONFIG_IP_NF_NAT",
  nf_tables: "CONFIG_NF_TABLES",
  overlay: "CONFIG_OVERLAY_FS",
};

/** iptables' tables, as /proc/net/ip_tables_names lists them, and the module behind each. */
const tableModules: Readonly<Record<string, string>> = {
  filter: "iptable_filter",
  mangle: "iptable_mangle",
  nat: "iptable_nat",
};

/** CONFIG_X=y -> y, =m -> m, "# CONFIG_X is not set" or no line -> n. */
export function configValue(
  config: ReadonlyMap<string, "y" | "m">,
  symbol: string,
): "y" | "m" | "n" {
  return config.get(symbol) ?? "n";
}

/** modules.dep: "kernel/net/ipv4/netfilter/ip_tables.ko.xz: kernel/net/netfilter/x_tables.ko.xz". */
export function parseModulesDep(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const match = /([\w-]+)\.ko(?:\.\w+)?:/.exec(line);
    if (match?.[1]) names.add(normalizeModule(match[1]));
  }
  return names;
}

/** /proc/net/ip_tables_names: one table per line ("nat", "filter"). */
export function parseTableNames(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /^\w+$/.test(line));
}

/** What the kernel shows about one module, gathered once per run. */
interface Evidence {
  readonly procModules?: Set<string>;
  /** /sys/module entries: a loadable module has `initstate`, a built-in one does not. */
  readonly sysModules: ReadonlyMap<string, "loaded" | "builtin">;
  readonly builtin?: { readonly names: Set<string>; readonly source: string };
  readonly installed?: { readonly names: Set<string>; readonly source: string };
  readonly config?: KernelConfig;
  /** Tables iptables has set up in the host's network namespace, when the file exists. */
  readonly tables?: readonly string[];
}

/** The verdict for one module from everything the kernel shows, strongest evidence first. */
export function judgeModule(name: string, e: Evidence): ModuleFact | undefined {
  if (e.procModules?.has(name)) return { state: "loaded", evidence: "/proc/modules" };
  const sys = e.sysModules.get(name);
  if (sys === "loaded") return { state: "loaded", evidence: `/sys/module/${name}/initstate` };
  if (e.builtin?.names.has(name)) return { state: "builtin", evidence: e.builtin.source };
  // A built-in module with parameters has a /sys/module entry but no initstate.
  if (sys === "builtin")
    return { state: "builtin", evidence: `/sys/module/${name} (no initstate)` };
  // ip_tables creates /proc/net/ip_tables_names, and each table module its line there; not in
  // /proc/modules (or no module support at all), so built in.
  const inUse =
    (name === "ip_tables" && e.tables !== undefined) ||
    Object.entries(tableModules).some(
      ([table, module]) => module === name && e.tables?.includes(table),
    );
  if (inUse) {
    return { state: "builtin", evidence: "/proc/net/ip_tables_names" };
  }
  const symbol = configSymbols[name];
  if (e.config && symbol) {
    const value = configValue(e.config.values, symbol);
    const modular = configValue(e.config.values, "CONFIG_MODULES") === "y";
    const evidence = `${e.config.source}: ${value === "n" ? `${symbol} is not set` : `${symbol}=${value}`}`;
    if (value === "y") return { state: "builtin", evidence };
    if (value === "m" && modular) return { state: "loadable", evidence };
    return { state: "absent", evidence };
  }
  if (e.installed?.names.has(name)) return { state: "loadable", evidence: e.installed.source };
  // A complete modules.builtin and modules.dep of the running kernel decide the rest.
  if (e.builtin && e.installed)
    return { state: "absent", evidence: `${e.builtin.source}, ${e.installed.source}` };
  return undefined;
}

/** /sys/module entries of the watched modules only: a cycle stats a handful, not hundreds. */
async function sysModuleStates(
  roots: HostRoots,
  names: readonly string[],
): Promise<Map<string, "loaded" | "builtin">> {
  const states = new Map<string, "loaded" | "builtin">();
  for (const name of names) {
    const dir = await statKernelPath(sysPath(roots, "module", name));
    if (!dir.ok) continue;
    const init = await statKernelPath(sysPath(roots, "module", name, "initstate"));
    states.set(name, init.ok ? "loaded" : "builtin");
  }
  return states;
}

async function nameList(
  roots: HostRoots,
  mounts: MountTable,
  path: string | undefined,
  parse: (text: string) => Set<string>,
): Promise<{ names: Set<string>; source: string } | undefined> {
  if (path === undefined) return undefined;
  const text = await readText(mounts, rootPath(roots, path));
  return text.ok ? { names: parse(text.text), source: path } : undefined;
}

/**
 * The state of each module in `names`, from /proc/modules, /sys/module, modules.builtin and
 * modules.dep of the running release, the kernel config and /proc/net/ip_tables_names. A module
 * that none of them decides is left out, and `missing` says what was looked for.
 */
export async function readModuleStates(
  roots: HostRoots,
  mounts: MountTable,
  release: string | undefined,
  names: readonly string[],
  configSlot: KernelConfigSlot = new KernelConfigSlot(),
): Promise<{ states: Record<string, ModuleFact>; missing?: string }> {
  const dir = release && /^[\w.+-]+$/.test(release) ? `/lib/modules/${release}` : undefined;
  const [loaded, sysModules, builtin, installed, tablesText] = await Promise.all([
    readKernelText(procPath(roots, "modules")),
    sysModuleStates(roots, names),
    nameList(roots, mounts, dir && `${dir}/modules.builtin`, parseModulesBuiltin),
    nameList(roots, mounts, dir && `${dir}/modules.dep`, parseModulesDep),
    readKernelText(procPath(roots, "net/ip_tables_names")),
  ]);
  // ip_tables_names is readable by root only, but exists for anyone once ip_tables is there.
  const tablesExist =
    tablesText.ok || (await statKernelPath(procPath(roots, "net/ip_tables_names"))).ok;
  const config = readKernelConfig(roots, release, configSlot);
  const evidence: Evidence = {
    ...(loaded.ok && { procModules: parseProcModules(loaded.text) }),
    sysModules,
    ...(builtin && { builtin }),
    ...(installed && { installed }),
    ...(config && { config }),
    ...(tablesExist && { tables: tablesText.ok ? parseTableNames(tablesText.text) : [] }),
  };
  const states: Record<string, ModuleFact> = {};
  for (const name of names) {
    const fact = judgeModule(name, evidence);
    if (fact) states[name] = fact;
  }
  if (names.every((name) => states[name])) return { states };
  const release_ = release ?? "RELEASE";
  return {
    states,
    missing: `/proc/modules, /lib/modules/${release_}/modules.builtin and modules.dep, /proc/config.gz, /boot/config-${release_}`,
  };
}
