import type { CheckOf } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { reasonText } from "../../checks/reasons.js";
import { shellQuote } from "../../checks/shell-quote.js";
import { startFix } from "../../checks/dockerd-text.js";
import type { RootlesskitFacts } from "./rootlesskit.js";

type Own = { readonly rootlesskit: RootlesskitFacts };

export const rootlesskitRunning: CheckOf<Own> = {
  id: "rootlesskit_running",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts }) => {
    const kit = facts.rootlesskit;
    if (!kit) return unknown(noFacts("rootlesskit"));
    if (kit.up)
      return pass(
        text(
          `rootlesskit runs (pid ${kit.parentPid}).`,
          `rootlesskit 正在运行（pid ${kit.parentPid}）。`,
        ),
        { pid: kit.parentPid },
      );
    return fail(
      text(
        "rootlesskit is not running: there is no rootless Docker for this user.",
        "rootlesskit 未运行：该用户没有 rootless Docker。",
      ),
      startFix,
    );
  },
};

export const stateDirStale: CheckOf<Own> = {
  id: "state_dir_stale",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) => {
    const kit = facts.rootlesskit;
    if (!kit) return unknown(noFacts("rootlesskit"));
    if (kit.stateDirRefused)
      return unknown(
        text(
          `rootlesskit's state dir (its ${kit.stateDirRefused.source === "flag" ? "`--state-dir`" : "held lock"} is not a directory of the user's own; nothing in it was read)`,
          `rootlesskit 的状态目录（其${kit.stateDirRefused.source === "flag" ? " `--state-dir` " : "持有的锁"}不是该用户自己的目录；未读取其中任何内容）`,
        ),
      );
    if (kit.stateDirStale === undefined) {
      return kit.up
        ? unknown(
            text(
              "rootlesskit's state dir (no `--state-dir`, no held lock, no $XDG_RUNTIME_DIR/dockerd-rootless)",
              "rootlesskit 的状态目录（没有 `--state-dir`，没有持有的锁，也没有 $XDG_RUNTIME_DIR/dockerd-rootless）",
            ),
          )
        : pass(
            text("No rootlesskit state dir is left behind.", "没有遗留的 rootlesskit 状态目录。"),
          );
    }
    const dir = kit.stateDir?.path ?? "";
    const shown = quoted(dir);
    if (!kit.stateDirStale)
      return pass(
        text(
          `${shown} belongs to the running rootlesskit.`,
          `${shown} 属于正在运行的 rootlesskit。`,
        ),
        { dir },
      );
    const reason = kit.staleReason === undefined ? undefined : reasonText(kit.staleReason);
    return fail(
      text(
        `${shown} was left by a rootlesskit that died (${reason?.en ?? "dead child"}).`,
        `${shown} 是已退出的 rootlesskit 遗留的（${reason?.["zh-CN"] ?? "子进程已退出"}）。`,
      ),
      text(
        `Remove it (\`rm -rf ${shellQuote(dir)}\`) and restart the daemon: \`systemctl --user restart docker\`.`,
        `删除它（\`rm -rf ${shellQuote(dir)}\`）并重启守护进程：\`systemctl --user restart docker\`。`,
      ),
      { dir, reason: kit.staleReason },
    );
  },
};
