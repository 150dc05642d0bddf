/**
 * One word for a POSIX shell, so a fix an admin pastes cannot run what a watched user put in a
 * path or name (`/tmp/x;$(id)` stays one literal argument). Plain words are left as they are.
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  // Inside single quotes nothing is special but the quote itself: close, escape it, reopen.
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
