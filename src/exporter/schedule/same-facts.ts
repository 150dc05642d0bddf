/**
 * Whether two runs' facts are the same: plain data (objects, arrays, strings, numbers, booleans,
 * null, undefined) compared by value, NaN equal to NaN. Anything else (a Map, a Date, a class
 * instance) is the same only when it is the same object: never taken for equal when it may differ.
 */
export function sameFacts(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameFacts(a[i], b[i])) return false;
    return true;
  }
  if (!isPlain(a) || !isPlain(b)) return false;
  // Own keys counted and compared with for...in (a plain object's prototype has no enumerable
  // key): no key arrays or closures per object compared, ~1.5 MiB of garbage a cycle at 1,000.
  const left = a as Readonly<Record<string, unknown>>;
  const right = b as Readonly<Record<string, unknown>>;
  let count = 0;
  for (const key in left) {
    if (!Object.hasOwn(left, key)) continue;
    if (!Object.hasOwn(right, key) || !sameFacts(left[key], right[key])) return false;
    count++;
  }
  for (const key in right) if (Object.hasOwn(right, key) && --count < 0) return false;
  return count === 0;
}

function isPlain(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
