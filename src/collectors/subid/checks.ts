import type { CheckInputOf, CheckOf, Verdict } from "../../checks/verdict.js";
import { fail, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { shellQuote } from "../../checks/shell-quote.js";
import type { SubidFacts, SubidFileFacts } from "./subid.js";

type Own = { readonly subid: SubidFacts };

/** Subordinate IDs of the user: enough of them, and no overlap with another user. */

/** The guide: "65,536 entries are sufficient for most images". */
export const minimumSubids = 65536;

function subidRange(kind: "uid" | "gid"): CheckOf<Own> {
  const file = kind === "uid" ? "/etc/subuid" : "/etc/subgid";
  const flag = kind === "uid" ? "--add-subuids" : "--add-subgids";
  return {
    id: `sub${kind}_range`,
    severity: "critical",
    scope: "user",
    evaluate: ({ facts, target }: CheckInputOf<Own>): Verdict => {
      const name = quoted(target.name);
      const summary = (facts.subid?.[kind] as SubidFileFacts | undefined)?.summary;
      if (!summary) return unknown(text(`${file} (unreadable)`, `${file}（无法读取）`));
      const size = summary.size;
      if (size >= minimumSubids) {
        return pass(
          text(
            `${name} has ${size} subordinate ${kind}s in ${file}.`,
            `${name} 在 ${file} 中有 ${size} 个从属 ${kind}。`,
          ),
          { size },
        );
      }
      const what =
        size === 0
          ? text(
              `${name} has no range in ${file}: rootlesskit fails with "No subuid ranges found for user".`,
              `${file} 中没有 ${name} 的条目：rootlesskit 会报错 "No subuid ranges found for user"。`,
            )
          : text(
              `${name} has only ${size} subordinate ${kind}s in ${file}: \`docker pull\` fails with "lchown <FILE>: invalid argument".`,
              `${name} 在 ${file} 中只有 ${size} 个从属 ${kind}：\`docker pull\` 会报错 "lchown <FILE>: invalid argument"。`,
            );
      return fail(
        what,
        text(
          `Give ${name} at least 65,536 ${kind}s that overlap no other user's range, e.g. \`sudo usermod ${flag} 100000-165535 ${shellQuote(target.name)}\` (or the line \`${name}:100000:65536\` in ${file}), then restart the daemon.`,
          `为 ${name} 分配至少 65,536 个不与其他用户重叠的 ${kind}（65,536 个条目对于大多数镜像来说已经足够），例如 \`sudo usermod ${flag} 100000-165535 ${shellQuote(target.name)}\`（或在 ${file} 中写入 \`${name}:100000:65536\`），然后重启守护进程。`,
        ),
        { size, ranges: summary.ranges },
      );
    },
  };
}

export const subuidRange = subidRange("uid");
export const subgidRange = subidRange("gid");

export const subidOverlap: CheckOf<Own> = {
  id: "subid_overlap",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const name = quoted(target.name);
    const uid = facts.subid?.uid.summary;
    const gid = facts.subid?.gid.summary;
    if (!uid || !gid)
      return unknown(
        text("/etc/subuid or /etc/subgid (unreadable)", "/etc/subuid 或 /etc/subgid（无法读取）"),
      );
    const overlaps = { uid: uid.overlaps, gid: gid.overlaps };
    if (uid.overlaps + gid.overlaps === 0)
      return pass(
        text(`${name}'s ranges overlap no other user's.`, `${name} 的范围不与其他用户重叠。`),
        overlaps,
      );
    return fail(
      text(
        `${uid.overlaps + gid.overlaps} of ${name}'s subordinate ID ranges overlap another user's: their containers share IDs on the host.`,
        `${name} 有 ${uid.overlaps + gid.overlaps} 个从属 ID 范围与其他用户重叠：他们的容器在主机上共用 ID。`,
      ),
      text(
        "Give every user a range of its own in /etc/subuid and /etc/subgid (`sudo usermod --del-subuids/--add-subuids`), then restart their daemons.",
        "在 /etc/subuid 和 /etc/subgid 中为每个用户分配独立的范围（`sudo usermod --del-subuids/--add-subuids`），然后重启他们的守护进程。",
      ),
      overlaps,
    );
  },
};
