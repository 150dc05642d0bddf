import type * as Bcrypt from "bcrypt";
import { createHmac, randomBytes } from "node:crypto";

/** Verified (user, hash, password) triples remembered, so a scrape every 15 s costs no bcrypt. */
const verifiedSize = 64;
/**
 * Refused triples remembered apart, so a stale password retried on every scrape costs one bcrypt
 * and a flood of distinct guesses, which churns this map, never evicts a verified triple.
 */
const refusedSize = 256;
/** bcrypts waiting in one lane; past it a new one is refused as busy (a guessing flood). */
const maxWaiting = 8;
/** The cost of the decoy an unknown user is checked against: fixed, as the toolkit's is. */
export const decoyCost = 10;
/** Hashes above this cost run in their own lane, so a stale costly hash stalls no other login. */
const slowCost = 12;

export type AuthResult = "ok" | "denied" | "busy";

/** One bcrypt at a time: CPU-bound, and a flood of guesses must not take every core. */
class Lane {
  private queue: Promise<unknown> = Promise.resolve();
  waiting = 0;

  run<T>(work: () => Promise<T>): Promise<T> {
    this.waiting++;
    const done = (): void => {
      this.waiting--;
    };
    const run = this.queue.then(work, work);
    this.queue = run.then(done, done);
    return run;
  }
}

/** A Map used as a bounded LRU set: a hit moves the key to the young end. */
function touch(map: Map<string, true>, key: string): boolean {
  if (!map.delete(key)) return false;
  map.set(key, true);
  return true;
}

function remember(map: Map<string, true>, key: string, size: number): void {
  map.delete(key);
  if (map.size >= size) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, true);
}

/**
 * Basic-auth credentials checked against bcrypt hashes. Verdicts are cached both ways and a
 * pair already being checked is waited for, not checked again, so only a new (user, password)
 * costs a bcrypt; an unknown user costs one of the decoy's cost, so a 401 says nothing about
 * which users exist (beyond a costlier hash being slower, as with the toolkit).
 */
export class BasicAuthVerifier {
  /** Keyed HMACs of triples: never the password, nor a hash anyone could precompute. */
  private readonly verified = new Map<string, true>();
  private readonly refused = new Map<string, true>();
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly hmacKey = randomBytes(32);
  private decoyHash: Promise<string> | undefined;
  private readonly standard = new Lane();
  private readonly slow = new Lane();
  /** The users the caches were filled for; another map (a reload) empties them. */
  private usersSeen: ReadonlyMap<string, string> | undefined;
  private generation = 0;

  /**
   * "ok" when `header` (an Authorization value) names one of `users` with its password; "busy"
   * only when a new pair would wait behind too many others in its lane: a cached verdict, or
   * a pair already being checked, is always answered.
   */
  async check(users: ReadonlyMap<string, string>, header: string | undefined): Promise<AuthResult> {
    if (users !== this.usersSeen) {
      this.usersSeen = users;
      this.verified.clear();
      this.refused.clear();
      this.generation++;
    }
    const credentials = parseBasic(header);
    if (!credentials) return "denied";
    const { user, password } = credentials;
    const known = users.get(user);
    const hash = known ?? (await this.decoy());
    // JSON keeps the three apart: no user or password can shift a boundary (CVE-2022-46146).
    const key = createHmac("sha256", this.hmacKey)
      .update(JSON.stringify([user, hash, password]))
      .digest("base64");
    if (known !== undefined && touch(this.verified, key)) return "ok";
    if (touch(this.refused, key)) return "denied";
    let verdict = this.pending.get(key);
    if (!verdict) {
      const lane = Number(hash.slice(4, 6)) > slowCost ? this.slow : this.standard;
      if (lane.waiting >= maxWaiting) return "busy";
      const generation = this.generation;
      verdict = lane.run(async () => {
        const bcrypt = await loadBcrypt();
        const ok = (await bcrypt.compare(password, nativePrefix(hash))) && known !== undefined;
        if (generation === this.generation) {
          if (ok) remember(this.verified, key, verifiedSize);
          else remember(this.refused, key, refusedSize);
        }
        return ok;
      });
      this.pending.set(key, verdict);
      const forget = (): void => {
        this.pending.delete(key);
      };
      verdict.then(forget, forget);
    }
    return (await verdict) ? "ok" : "denied";
  }

  /** A hash of a random password, made once per process at the fixed decoy cost. */
  private decoy(): Promise<string> {
    this.decoyHash ??= loadBcrypt().then((bcrypt) =>
      bcrypt.hash(randomBytes(18).toString("base64"), decoyCost),
    );
    return this.decoyHash;
  }
}

/**
 * The native bcrypt, loaded at the first login: a configuration without basic-auth users never
 * maps it (its addon and libraries cost ~8 MiB of RSS). The module cache makes later calls a lookup.
 */
async function loadBcrypt(): Promise<typeof Bcrypt> {
  // The CommonJS module object itself (as a static default import gives it), not a copy of its exports.
  const loaded = (await import("bcrypt")) as typeof Bcrypt & { default?: typeof Bcrypt };
  return loaded.default ?? loaded;
}

/** $2y$ (what htpasswd writes) is the same algorithm as $2b$; the native library takes only the latter. */
function nativePrefix(hash: string): string {
  return hash.startsWith("$2y$") ? `$2b$${hash.slice(4)}` : hash;
}

/** RFC 7617: "Basic base64(user:password)"; the user part cannot hold a colon. */
export function parseBasic(
  header: string | undefined,
): { user: string; password: string } | undefined {
  const match = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
