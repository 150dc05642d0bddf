import { createHmac, randomBytes } from "node:crypto";
import bcrypt from "bcrypt";

/** Verified (user, hash, password) triples remembered, so a scrape every 15 s costs no bcrypt. */
const cacheSize = 64;
/** bcrypts waiting their turn; past it a new one is refused as busy (a guessing flood). */
const maxWaiting = 8;

export type AuthResult = "ok" | "denied" | "busy";

/**
 * Basic-auth credentials checked against bcrypt hashes. One bcrypt at a time (it is CPU-bound
 * and a flood of wrong passwords must not take every core); a wrong password or an unknown user
 * always costs one full bcrypt, so the time of a 401 says nothing about which users exist.
 */
export class BasicAuthVerifier {
  /** Keyed HMACs of verified triples: never the password, nor a hash anyone could precompute. */
  private readonly verified = new Map<string, true>();
  private readonly hmacKey = randomBytes(32);
  private readonly decoys = new Map<number, Promise<string>>();
  private queue: Promise<unknown> = Promise.resolve();

  private waiting = 0;

  /**
   * "ok" when `header` (an Authorization value) names one of `users` with its password; "busy"
   * when too many checks wait already, so a flood of guesses cannot hold every request slot
   * while a scraper whose credentials are cached still gets in.
   */
  async check(users: ReadonlyMap<string, string>, header: string | undefined): Promise<AuthResult> {
    const credentials = parseBasic(header);
    if (!credentials) return "denied";
    const { user, password } = credentials;
    const known = users.get(user);
    const hash = known ?? (await this.decoy(users));
    const key = createHmac("sha256", this.hmacKey)
      .update(`${user}\0${hash}\0${password}`)
      .digest("base64");
    if (known !== undefined && this.verified.has(key)) return "ok";
    if (this.waiting >= maxWaiting) return "busy";
    this.waiting++;
    let ok: boolean;
    try {
      ok = await this.serially(() => bcrypt.compare(password, nativePrefix(hash)));
    } finally {
      this.waiting--;
    }
    if (!ok || known === undefined) return "denied";
    if (this.verified.size >= cacheSize) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(key, true);
    return "ok";
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A hash of a random password at the highest cost among the users, made once per cost, that
   * an unknown user is checked against: the same bcrypt work as a known user's wrong password.
   */
  private decoy(users: ReadonlyMap<string, string>): Promise<string> {
    let cost = 4;
    for (const hash of users.values()) cost = Math.max(cost, Number(hash.slice(4, 6)));
    let decoy = this.decoys.get(cost);
    if (!decoy) {
      decoy = this.serially(() => bcrypt.hash(randomBytes(18).toString("base64"), cost));
      this.decoys.set(cost, decoy);
    }
    return decoy;
  }
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
