import { readUserFile } from "../../host/user-files.js";
import {
  defaultStateDir,
  ensurePrivateDir,
  removeOwnFile,
  writeFileAtomic,
} from "../../host/private-dir.js";

/** What a probe left behind, so a crash halfway is cleaned up by the next run. */
export interface Leftovers {
  readonly forwards: readonly { readonly stateDir: string; readonly id: number }[];
  readonly agents: readonly number[];
}

/** More than one run's worth of entries means the file is not ours to trust. */
const maxEntries = 16;
const maxJournalBytes = 64 * 1024;

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * A journal as read back: its exact shape, or undefined. Even in a private dir the content
 * decides a DELETE and a kill, so nothing is taken on trust (ids and pids are integers, state dirs
 * absolute paths).
 */
export function parseLeftovers(text: string): Leftovers | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { forwards, agents, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || !Array.isArray(forwards) || !Array.isArray(agents))
    return undefined;
  if (forwards.length > maxEntries || agents.length > maxEntries) return undefined;
  const okForward = (f: unknown): f is Leftovers["forwards"][number] => {
    if (typeof f !== "object" || f === null) return false;
    const { stateDir, id, ...more } = f as Record<string, unknown>;
    return (
      Object.keys(more).length === 0 &&
      typeof stateDir === "string" &&
      stateDir.startsWith("/") &&
      stateDir.length < 4096 &&
      isId(id)
    );
  };
  const okPid = (p: unknown): p is number => isId(p) && p > 1;
  if (!forwards.every(okForward) || !agents.every(okPid)) return undefined;
  return { forwards, agents };
}

/**
 * The probe's journal for one watched user, in a directory only the exporter's uid can write
 * (`dir`, handed in; by default /run/rootless-exporter for root).
 */
export class ProbeJournal {
  readonly file: string;

  constructor(
    readonly dir: string,
    private readonly uid: number,
  ) {
    this.file = `${dir}/probe-${uid}.json`;
  }

  static forExporter(
    env: Readonly<Record<string, string | undefined>>,
    uid: number,
    dir = defaultStateDir(env),
  ): ProbeJournal {
    return new ProbeJournal(dir, uid);
  }

  async write(leftovers: Leftovers): Promise<void> {
    await ensurePrivateDir(this.dir);
    await writeFileAtomic(this.file, JSON.stringify(leftovers));
  }

  /** The leftovers of an earlier run; `malformed` when the file is there but not a journal. */
  async read(): Promise<{ leftovers?: Leftovers; malformed?: string }> {
    const own = process.geteuid?.() ?? -1;
    // Our own file in our own dir: read with the same refusals as a user's (no symlink, no FIFO).
    const saved = await readUserFile(this.file, own, maxJournalBytes);
    if (!saved.ok) return saved.state === "missing" ? {} : { malformed: saved.detail };
    const leftovers = parseLeftovers(saved.text);
    return leftovers ? { leftovers } : { malformed: `${this.file} is not a probe journal` };
  }

  async remove(): Promise<void> {
    await removeOwnFile(this.file);
  }
}
