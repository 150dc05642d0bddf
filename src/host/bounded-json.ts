/** Deeper than any answer of the Docker Engine or rootlesskit API (Docker's /info: 6 levels). */
export const maxJsonDepth = 32;
/** A real Docker /info is a few KB; JSON.parse of a flat 256 KiB array takes about 2 ms. */
export const maxJsonChars = 256 * 1024;

export type JsonAnswer =
  | { readonly ok: true; readonly value: unknown }
  | {
      readonly ok: false;
      readonly reason: "too_deep" | "too_large" | "invalid";
      readonly detail: string;
    };

export interface JsonBounds {
  readonly maxDepth?: number;
  readonly maxChars?: number;
}

/**
 * Parses JSON from a watched user's socket, never echoing it. JSON.parse runs on the main thread
 * and a nested 1 MiB answer (`[[[[...`) held it for 85-190 ms; this linear pre-scan counts the
 * nesting outside strings and stops at the first level too deep, before JSON.parse sees a byte.
 */
export function parseBoundedJson(body: string, bounds: JsonBounds = {}): JsonAnswer {
  const maxDepth = bounds.maxDepth ?? maxJsonDepth;
  const maxChars = bounds.maxChars ?? maxJsonChars;
  if (body.length > maxChars)
    return {
      ok: false,
      reason: "too_large",
      detail: `answer too large (over ${maxChars} characters)`,
    };
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character ("\"" does not end the string).
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth)
        return {
          ok: false,
          reason: "too_deep",
          detail: `answer too deep (over ${maxDepth} levels of nesting)`,
        };
    } else if ((c === 0x7d || c === 0x5d) && --depth < 0) break;
  }
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch {
    return { ok: false, reason: "invalid", detail: "answer is not valid JSON" };
  }
}
