import type { CheckInputOf, CheckOf, Text, Verdict } from "../../checks/verdict.js";
import { fail, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { shellQuote } from "../../checks/shell-quote.js";
import type { SubidAnswer, SubidFacts } from "./subid.js";

type Own = { readonly subid: SubidFacts };

/** Subordinate IDs of the user: enough of them, and no overlap with another user. */

/** The guide: "65,536 entries are sufficient for most images". */
export const minimumSubids = 65536;

/** A check could not judge: what it lacked, and libsubid's or the collector's reason. */
export function unknownWith(missing: Text, detail: string | undefined): Verdict {
  const verdict = unknown(missing);
  return detail === undefined ? verdict : { ...verdict, facts: { ...verdict.facts, detail } };
}

/** What happens without enough IDs, by size. */
function shortage(kind: "uid" | "gid", size: number, owner: string, where: Text): Text {
  return size === 0
    ? text(
        `${owner} has no range ${where.en}: new${kind}map refuses the map and rootlesskit fails with "No subuid ranges found for user".`,
        `${where["zh-CN"]}没有 ${owner} 的条目：new${kind}map 会拒绝映射，rootlesskit 会报错 "No subuid ranges found for user"。`,
      )
    : text(
        `${owner} has only ${size} subordinate ${kind}s ${where.en}: \`docker pull\` fails with "lchown <FILE>: invalid argument".`,
        `${owner} ${where["zh-CN"]}只有 ${size} 个从属 ${kind}：\`docker pull\` 会报错 "lchown <FILE>: invalid argument"。`,
      );
}

function subidRange(kind: "uid" | "gid"): CheckOf<Own> {
  const file = kind === "uid" ? "/etc/subuid" : "/etc/subgid";
  const flag = kind === "uid" ? "--add-subuids" : "--add-subgids";
  const g = kind === "gid" ? "-g " : "";
  return {
    id: `sub${kind}_range`,
    severity: "critical",
    scope: "user",
    evaluate: ({ facts, target }: CheckInputOf<Own>): Verdict => {
      const name = quoted(target.name);
      const login = shellQuote(target.name);
      const answer: SubidAnswer | undefined = facts.subid?.answer[kind];
      if (!answer) return unknown(text(`${file} (unreadable)`, `${file}（无法读取）`));
      const { size, source } = answer;
      if (size === undefined || source === undefined) {
        return unknownWith(
          text(
            `the subordinate ${kind}s libsubid gives ${name}`,
            `libsubid 为 ${name} 提供的从属 ${kind}`,
          ),
          answer.detail,
        );
      }
      const fromModule = source !== "files";
      const shown = quoted(source);
      const facts2 = { size, ranges: answer.ranges, source, fallbackFrom: answer.fallbackFrom };
      if (size >= minimumSubids) {
        return pass(
          fromModule
            ? text(
                `${name} has ${size} subordinate ${kind}s from the libsubid module ${shown}.`,
                `${name} 从 libsubid 模块 ${shown} 获得 ${size} 个从属 ${kind}。`,
              )
            : text(
                `${name} has ${size} subordinate ${kind}s in ${file}.`,
                `${name} 在 ${file} 中有 ${size} 个从属 ${kind}。`,
              ),
          facts2,
        );
      }
      const fixFiles = text(
        `give ${name} at least 65,536 ${kind}s that overlap no other user's range, e.g. \`sudo usermod ${flag} 100000-165535 ${login}\` (or the line \`${name}:100000:65536\` in ${file})`,
        `为 ${name} 分配至少 65,536 个不与其他用户重叠的 ${kind}（65,536 个条目对于大多数镜像来说已经足够），例如 \`sudo usermod ${flag} 100000-165535 ${login}\`（或在 ${file} 中写入 \`${name}:100000:65536\`）`,
      );
      if (fromModule) {
        const where = text(
          `from the libsubid module ${shown} (getsubids ${size === 0 ? 'prints "Error fetching ranges"' : "lists them"})`,
          `在 libsubid 模块 ${shown} 中（getsubids ${size === 0 ? '输出 "Error fetching ranges"' : "列出了它们"}）`,
        );
        return fail(
          shortage(kind, size, name, where),
          text(
            `Give ${name} at least 65,536 ${kind}s in the directory the module ${shown} reads (FreeIPA: \`ipa subid-generate --owner ${login}\`), check that its service answers (\`getsubids ${g}${login}\` run as the user), then restart the daemon.`,
            `在模块 ${shown} 所读取的目录服务中为 ${name} 分配至少 65,536 个 ${kind}（FreeIPA：\`ipa subid-generate --owner ${login}\`），确认其服务能够应答（以该用户身份运行 \`getsubids ${g}${login}\`），然后重启守护进程。`,
          ),
          facts2,
        );
      }
      const module = answer.fallbackFrom === undefined ? undefined : quoted(answer.fallbackFrom);
      if (module !== undefined) {
        const where = text(
          `in ${file}, which libsubid reads because it cannot use libsubid_${module}.so, the module /etc/nsswitch.conf names`,
          `在 ${file} 中（/etc/nsswitch.conf 指定的模块 libsubid_${module}.so 无法使用，libsubid 因而读取该文件）`,
        );
        return fail(
          shortage(kind, size, name, where),
          text(
            `Install the package that provides libsubid_${module}.so where the dynamic linker finds it, until \`getsubids ${g}${login}\` prints no "Error opening"; or set \`subid: files\` in /etc/nsswitch.conf and ${fixFiles.en}. Then restart the daemon.`,
            `安装提供 libsubid_${module}.so 的软件包并放在动态链接器能找到的位置，直到 \`getsubids ${g}${login}\` 不再输出 "Error opening"；或者在 /etc/nsswitch.conf 中设置 \`subid: files\`，并${fixFiles["zh-CN"]}。然后重启守护进程。`,
          ),
          facts2,
        );
      }
      return fail(
        shortage(kind, size, name, text(`in ${file}`, `在 ${file} 中`)),
        text(
          `${fixFiles.en.charAt(0).toUpperCase()}${fixFiles.en.slice(1)}, then restart the daemon.`,
          `${fixFiles["zh-CN"]}，然后重启守护进程。`,
        ),
        facts2,
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
    const source = [facts.subid?.answer.uid.source, facts.subid?.answer.gid.source].find(
      (s) => s !== undefined && s !== "files",
    );
    if (source !== undefined) {
      const module = quoted(source);
      return unknown(
        text(
          `other users' ranges, since ${name}'s come from the libsubid module ${module} and only the files are compared`,
          `其他用户的范围，因为 ${name} 的范围来自 libsubid 模块 ${module}，而这里只比较文件中的范围`,
        ),
      );
    }
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
