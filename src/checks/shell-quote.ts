/**
 * One word for a POSIX shell, so a fix an admin pastes cannot run what a watched user put in a
 * path or name (`/tmp/x;$(id)` stays one literal argument). Plain words are left as they are.
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  // A newline or a bidi control would break or reorder the fix's own lines: ANSI-C quoting
  // (bash, zsh, ksh, POSIX.1-2024) names them as escapes and still means the same bytes.
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(word)) return ansiC(word);
  // Inside single quotes nothing is special but the quote itself: close, escape it, reopen.
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function ansiC(word: string): string {
  const body = Array.from(word, (char) => {
    if (char === "\\" || char === "'") return `\\${char}`;
    if (!/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(char)) return char;
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x80) return `\\x${code.toString(16).padStart(2, "0")}`;
    return code > 0xffff
      ? `\\U${code.toString(16).padStart(8, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  }).join("");
  return `$'${body}'`;
}
