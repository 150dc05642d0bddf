/*
 * "Both languages, whole sentences": what is left of a Chinese text once code spans, quoted
 * messages, paths, identifiers, config lines and names are taken out holds no English prose
 * (two Latin words in a row).
 */
const names = [
  "Arch Linux",
  "rootless Docker",
  "rootless dockerd",
  "setuid root",
  "systemd user",
  "Docker Engine",
];

export function englishProse(zh: string): string[] {
  const lines = zh
    .split("\n")
    // Config and profile lines (a systemd drop-in, an AppArmor profile) are verbatim file content.
    .filter(
      (line) =>
        /[\u4e00-\u9fff]/.test(line) || !/^(\[\w+\]|abi |include |"|\s+\w|\w+=|\}$|$)/.test(line),
    );
  let rest = lines.join("\n");
  rest = rest
    .replace(/`[^`]*`/g, " ")
    .replace(/"[^"]*"/g, " ")
    .replace(/[~$]?\S*\/\S*/g, " ")
    .replace(/\S*[\w-]*[._=@:<>][\w.=@:<>-]*\S*/g, " ")
    .replace(/[A-Za-z-]*\d[\w-]*/g, " ");
  for (const name of names) rest = rest.replaceAll(name, " ");
  return [...rest.matchAll(/[A-Za-z][A-Za-z'-]*(?:[ ,]+[A-Za-z][A-Za-z'-]*)+/g)].map((m) =>
    m[0].replace(/\s+/g, " "),
  );
}
