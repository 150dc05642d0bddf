import { UsageError } from "../config.js";
import type { FlagSpec } from "./flags.js";
import { envName } from "./flags.js";

function parseBoolean(flag: string, raw: string, from: string): boolean {
  if (["true", "1", "yes"].includes(raw)) return true;
  if (["false", "0", "no"].includes(raw)) return false;
  throw new UsageError(`${from}${flag}: expected true or false, got "${raw}"`);
}

/** Flag values by name, first from the environment, then overridden by argv. */
export function collectValues(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  specs: readonly FlagSpec[],
): Map<string, string | boolean | string[]> {
  const byName = new Map(specs.map((spec) => [spec.name, spec] as const));
  const values = new Map<string, string | boolean | string[]>();
  for (const spec of specs) {
    const raw = env[envName(spec.name)];
    if (raw === undefined) continue;
    values.set(
      spec.name,
      spec.boolean
        ? parseBoolean(spec.name, raw, `${envName(spec.name)} for --`)
        : spec.repeatable
          ? raw.split(",").filter((v) => v !== "")
          : raw,
    );
  }
  // A repeatable flag on the command line replaces its environment variable's list.
  const fromArgv = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"; see --help`);
    const eq = arg.indexOf("=");
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    let negated = false;
    if (!byName.has(name) && name.startsWith("no-") && byName.get(name.slice(3))?.boolean) {
      name = name.slice(3);
      negated = true;
    }
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown flag --${name}; see --help`);
    if (spec.boolean) {
      if (negated && inline !== undefined) throw new UsageError(`--no-${name} takes no value`);
      values.set(
        name,
        negated ? false : inline === undefined ? true : parseBoolean(name, inline, "--"),
      );
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined)
      throw new UsageError(`--${name}: expected a value (${spec.placeholder})`);
    if (spec.repeatable) {
      const list = fromArgv.has(name) ? (values.get(name) as string[]) : [];
      fromArgv.add(name);
      values.set(name, [...list, ...(value === "" ? [] : [value])]);
      continue;
    }
    values.set(name, value);
  }
  return values;
}
