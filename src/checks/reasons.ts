import type { Text } from "./verdict.js";
import { text } from "./verdict.js";
import { escapedProse } from "./quoted.js";

/*
 * Reasons that collectors word in English (a helper's setuid state, a storage driver's kernel
 * requirement, a stale pid, a socket or D-Bus error) in both languages. A reason no rule knows is
 * an operating system's or a peer's own message: it is quoted verbatim as code, as the guide
 * quotes error messages, never left as English prose in a Chinese sentence.
 */
type Rule = readonly [RegExp, (...groups: string[]) => string];

const rules: readonly Rule[] = [
  [/^(\S+) is setuid root$/, (p) => `${p} 是 setuid root`],
  [/^(\S+) has (cap_\w+)=ep$/, (p, c) => `${p} 带有 ${c}=ep`],
  [
    /^(\S+) is neither setuid root nor has (cap_\w+)=ep$/,
    (p, c) => `${p} 既不是 setuid root，也没有 ${c}=ep`,
  ],
  [/^(\S+) is not installed \(package (\S+)\)$/, (h, pkg) => `${h} 未安装（软件包 ${pkg}）`],
  [/^vfs works on every kernel$/, () => "vfs 适用于所有内核"],
  [/^kernel (\d+\.\d+) >= (\d+\.\d+)$/, (k, v) => `内核 ${k} >= ${v}`],
  [
    /^kernel (\d+\.\d+) < 5\.11: rootless overlay2 needs 5\.11$/,
    (k) => `内核 ${k} < 5.11：rootless 模式的 overlay2 需要 5.11`,
  ],
  [
    /^kernel (\d+\.\d+) < 4\.18 \(unless mounted with user_subvol_rm_allowed\)$/,
    (k) => `内核 ${k} < 4.18（除非使用 user_subvol_rm_allowed 挂载选项挂载）`,
  ],
  [/^kernel (\d+\.\d+) < (\d+\.\d+)$/, (k, v) => `内核 ${k} < ${v}`],
  [
    /^kernel (\d+\.\d+) >= 4\.18, (\S+), \/dev\/fuse$/,
    (k, b) => `内核 ${k} >= 4.18，${b}，/dev/fuse`,
  ],
  [/^fuse-overlayfs is not installed$/, () => "未安装 fuse-overlayfs"],
  [/^\/dev\/fuse does not exist$/, () => "/dev/fuse 不存在"],
  [
    /^rootless mode supports only overlay2, fuse-overlayfs, btrfs and vfs$/,
    () => "rootless 模式仅支持 overlay2、fuse-overlayfs、btrfs 和 vfs",
  ],
  [/^child_pid: no live process (\d+)$/, (p) => `child_pid：进程 ${p} 已不存在`],
  [
    /^child_pid: process (\d+) belongs to uid (\d+)$/,
    (p, u) => `child_pid：进程 ${p} 属于 uid ${u}`,
  ],
  [
    /^child_pid: process (\d+) is (\S+), not (\S+)$/,
    (p, a, b) => `child_pid：进程 ${p} 是 ${a}，不是 ${b}`,
  ],
  [/^child_pid: (\S+) holds (.*), not a pid$/, (f, v) => `child_pid：${f} 的内容是 ${v}，不是 pid`],
  [/^(\S+) is held by no live process$/, (f) => `没有存活的进程持有 ${f}`],
  [/^GET (\S+) answered (\d+)$/, (p, s) => `\`GET ${p}\` 返回了 ${s}`],
  [
    /^(\S+) did not answer (\S+) within (\d+) ms$/,
    (s, p, ms) => `${s} 在 ${ms} 毫秒内没有响应 \`${p}\``,
  ],
  [/^(\S+): connection closed$/, (s) => `${s}：连接已关闭`],
  [/^aborted$/, () => "已中止"],
];

/**
 * A collector's English reason in both languages. Reasons carry what users put in paths and what
 * their buses said: escaped and bounded first, so neither language can break a report's lines.
 */
export function reasonText(raw: string): Text {
  const reason = escapedProse(raw);
  for (const [pattern, zh] of rules) {
    const match = pattern.exec(reason);
    if (match) return text(reason, zh(...match.slice(1)));
  }
  return text(reason, `\`${reason.replaceAll("`", "'")}\``);
}

/** Several reasons joined as a list in each language. */
export function reasonsText(reasons: readonly string[], en = "; ", zh = "；"): Text {
  const texts = reasons.map(reasonText);
  return text(texts.map((t) => t.en).join(en), texts.map((t) => t["zh-CN"]).join(zh));
}

/** For tests: the patterns, so every collector wording can be shown to have a rule. */
export const reasonPatterns: readonly RegExp[] = rules.map(([pattern]) => pattern);
