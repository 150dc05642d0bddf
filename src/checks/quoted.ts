/*
 * Text a watched user controls (a driver name from docker's `/info`, a path from rootlesskit's
 * argv, a D-Bus error) goes into summaries that an admin reads in a terminal, a page or JSON. It
 * must not add a line, reorder what follows (bidi overrides) or hide itself, so every control,
 * format, line or paragraph separator and lone surrogate is written as a visible escape.
 */

/** Cc (C0, DEL, C1 with U+0085), Cf (bidi controls, zero-width marks), Zl, Zp, lone surrogates. */
const invisible = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const named: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** Characters past this are cut: a 1 MiB path from a socket's answer makes no readable summary. */
export const quotedMaxChars = 200;

/** As JSON writes it: `\n`, or `\uXXXX` for each UTF-16 unit (an astral character has two). */
function escapeOne(char: string): string {
  const units = Array.from({ length: char.length }, (_, i) => char.charCodeAt(i));
  return named[char] ?? units.map((u) => `\\u${u.toString(16).padStart(4, "0")}`).join("");
}

/** The text with every invisible character as `\n`, `\u202e`, ... (nothing else changes). */
export function escapeInvisible(text: string): string {
  return text.replace(invisible, escapeOne);
}

/** At most `max` code points of the text (a surrogate pair is never split), and what was cut. */
function cut(text: string, max: number): { head: string; dropped: number } {
  if (text.length <= max) return { head: text, dropped: 0 };
  const points = Array.from(text);
  if (points.length <= max) return { head: text, dropped: 0 };
  return { head: points.slice(0, max).join(""), dropped: points.length - max };
}

const more = (dropped: number): string => (dropped > 0 ? `… (+${dropped} characters)` : "");

/**
 * A user's value inside prose of ours: left as it is when it is a plain word or path (so
 * `slirp4netns` and `/run/user/1000` read as before), else in double quotes with `"`, `\` and
 * every invisible character escaped as in JSON. Either way one line, at most `max` characters.
 */
export function quoted(value: string, max = quotedMaxChars): string {
  const { head, dropped } = cut(value, max);
  if (dropped === 0 && /^[A-Za-z0-9_@%+=:,./~-]+$/.test(value)) return value;
  const body = head.replace(/["\\]/g, (c) => `\\${c}`);
  return `"${escapeInvisible(body)}"${more(dropped)}`;
}

/**
 * Prose a collector worded around a user's value ("child_pid: /x holds 3 bytes, not a pid", a
 * bus's error text): kept as prose, with invisible characters escaped and the length bounded.
 */
export function escapedProse(text: string, max = 2 * quotedMaxChars): string {
  const { head, dropped } = cut(text, max);
  return `${escapeInvisible(head)}${more(dropped)}`;
}
