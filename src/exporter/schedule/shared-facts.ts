import { sameFacts } from "./same-facts.js";

/** How many distinct facts values one collector's table remembers. */
const remembered = 8;

/**
 * One collector's recently recorded facts, so users whose facts are equal share one object (issue
 * 19, docs/performance.md#memory): most users of a big host have nothing running, and their
 * subid, linger, rootlesskit and network facts are the same value (at 10,000 users the subid
 * collector's copies alone were ~20 MiB). Facts are never changed in place (docs/architecture.md),
 * so an object stands for its value wherever it is served; a rendering keyed by that object
 * renders the same bytes for any user whose facts it is.
 *
 * The few values kept are the last ones met (a hit moves to the front): the idle users' value is
 * met every few records and stays, a live user's facts pass through. Equal is sameFacts's equal:
 * a Map, a Date or a class instance only when it is the same object, so facts holding one are
 * never shared by value.
 */
export class SharedFacts<F> {
  private readonly recent: F[] = [];

  /** The object to keep for `facts`: an equal one recorded before, or `facts` itself. */
  share(facts: F): F {
    const found = this.recent.findIndex((known) => sameFacts(known, facts));
    if (found === 0) return this.recent[0] as F;
    if (found > 0) {
      const [known] = this.recent.splice(found, 1) as [F];
      this.recent.unshift(known);
      return known;
    }
    const kept = ownShape(facts);
    this.recent.unshift(kept);
    if (this.recent.length > remembered) this.recent.pop();
    return kept;
  }
}

/**
 * `facts` as a plain object made from {} a key at a time, in its own keys' order: equal by
 * sameFacts, the same JSON, the same nested objects (not copied: a collector may keep them too).
 * Collectors make facts by spreads (`{ ...base, configured }`), and V8 gave each spread copy a
 * hidden class of its own, with its descriptors (~20,000 at 10,000 users for the cgroup and
 * docker facts alone); objects given their keys one by one in the same order share one. Anything
 * but a plain object, or one with a key that an assignment would not make an own property
 * (`__proto__`), is kept as it is. Facts are plain data (docs/architecture.md): own enumerable
 * string keys only; a getter is read once, non-enumerable and symbol keys are not kept. A frozen
 * object gives a frozen copy.
 */
export function ownShape<F>(facts: F): F {
  if (typeof facts !== "object" || facts === null || Array.isArray(facts)) return facts;
  if (Object.getPrototypeOf(facts) !== Object.prototype) return facts;
  const from = facts as Readonly<Record<string, unknown>>;
  const copy: Record<string, unknown> = {};
  for (const key in from) {
    if (!Object.hasOwn(from, key)) continue;
    if (key === "__proto__") return facts;
    copy[key] = from[key];
  }
  if (Object.isFrozen(from)) Object.freeze(copy);
  return copy as F;
}
