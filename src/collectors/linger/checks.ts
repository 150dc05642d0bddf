import type { CheckOf } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { shellQuote } from "../../checks/shell-quote.js";
import type { LingerFacts } from "./linger.js";

type Own = { readonly linger: LingerFacts };

export const linger: CheckOf<Own> = {
  id: "linger",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const name = quoted(target.name);
    const enabled = facts.linger?.enabled;
    if (enabled === undefined) return unknown(noFacts("linger"));
    const source = facts.linger?.source;
    if (enabled)
      return pass(text(`Linger is on for ${name}.`, `${name} 已启用 linger。`), {
        source,
      });
    return fail(
      text(
        `Linger is off for ${name}: the daemon stops at logout and does not start at boot.`,
        `${name} 未启用 linger：守护进程在注销时停止，也不会自动启动。`,
      ),
      text(
        `Run \`sudo loginctl enable-linger ${shellQuote(target.name)}\`.`,
        `您需要运行 \`sudo loginctl enable-linger ${shellQuote(target.name)}\` 来使守护进程能够自动启动。`,
      ),
      { source },
    );
  },
};
