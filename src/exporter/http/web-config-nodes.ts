import type { YamlValue } from "./web-config-yaml.js";

/** The web config's YAML nodes read as the toolkit's Go structs are filled (yaml.v2). */

/** A bad web configuration: main prints it on one line and exits 2. */
export class WebConfigError extends Error {}

export type Node = ReadonlyMap<string, YamlValue>;

export function mapping(value: YamlValue | undefined, where: string): Node {
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return new Map();
  if (value.kind !== "mapping") throw new WebConfigError(`${where}: expected a mapping`);
  return value.entries;
}

export function onlyKeys(node: Node, allowed: readonly string[], where: string): void {
  for (const [key, value] of node) {
    if (!allowed.includes(key))
      throw new WebConfigError(
        `${where === "" ? "" : `${where}.`}${key}: unknown key (line ${value.line})`,
      );
  }
}

/** As yaml.v2 fills a string: any scalar's text, null as absent. */
export function text(value: YamlValue | undefined, where: string): string | undefined {
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return undefined;
  if (value.kind !== "scalar") throw new WebConfigError(`${where}: expected a string`);
  return value.text;
}

export function str(node: Node, key: string, where: string): string | undefined {
  return text(node.get(key), `${where}.${key}`);
}

export function strList(node: Node, key: string, where: string): string[] | undefined {
  const value = node.get(key);
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return undefined;
  if (value.kind !== "sequence") throw new WebConfigError(`${where}.${key}: expected a list`);
  return value.items.map((item) => text(item, `${where}.${key}`) ?? "");
}

/** YAML 1.1 booleans (true, yes, on, y and their opposites), as yaml.v2 reads a bool. */
export function bool(node: Node, key: string, where: string, fallback: boolean): boolean {
  const value = node.get(key);
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return fallback;
  if (value.kind !== "scalar" || typeof value.value !== "boolean")
    throw new WebConfigError(`${where}.${key}: expected true or false`);
  return value.value;
}

const durationUnits: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration ("1.5s", "1h30m", ".5s", "-1s"), in milliseconds. */
export function parseGoDuration(raw: string): number | undefined {
  const match = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0)$/.exec(raw);
  if (!match?.[2]) return undefined;
  let ms = 0;
  for (const [, number, unit] of match[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g))
    ms += Number(number) * (durationUnits[unit ?? ""] ?? NaN);
  return match[1] === "-" ? -ms : ms;
}

/** An own entry of a fixed table: "toString" or "__proto__" in a file names nothing. */
export function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
