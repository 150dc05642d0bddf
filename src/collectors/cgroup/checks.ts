import type { CheckOf } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import type { CgroupFacts, Controller } from "./cgroup.js";

type Own = { readonly cgroup: CgroupFacts };

export const cgroupV2: CheckOf<Own> = {
  id: "cgroup_v2",
  severity: "warning",
  scope: "host",
  evaluate: ({ facts }) => {
    const version = facts.cgroup?.version;
    if (version === undefined)
      return unknown(
        text(
          "the cgroup version (/sys/fs/cgroup is unreadable)",
          "cgroup 版本（无法读取 /sys/fs/cgroup）",
        ),
      );
    if (version === 2)
      return pass(text("The host runs a pure cgroup v2 hierarchy.", "主机使用纯 cgroup v2。"), {
        version,
      });
    return fail(
      text(
        "The host is not on pure cgroup v2: `--cpus`, `--memory` and `--pids-limit` are ignored.",
        "主机未使用纯 cgroup v2：`--cpus`、`--memory` 和 `--pids-limit` 被忽略。",
      ),
      text(
        "Boot with cgroup v2: add `systemd.unified_cgroup_hierarchy=1` to GRUB_CMDLINE_LINUX in /etc/default/grub, run `sudo update-grub` and reboot.",
        "要使用这些标志，需要将主机配置为启用 cgroup v2：在 /etc/default/grub 的 GRUB_CMDLINE_LINUX 中添加 `systemd.unified_cgroup_hierarchy=1`，运行 `sudo update-grub` 并重启。",
      ),
      { version },
    );
  },
};

/** cpuset is optional; the guide's --cpus, --memory and --pids-limit need the other four. */
const neededControllers: readonly Controller[] = ["cpu", "io", "memory", "pids"];

export const cgroupDelegation: CheckOf<Own> = {
  id: "cgroup_delegation",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const name = quoted(target.name);
    const cgroup = facts.cgroup;
    if (!cgroup) return unknown(noFacts("cgroup"));
    if (cgroup.version === undefined)
      return unknown(
        text(
          "the cgroup version (/sys/fs/cgroup is unreadable)",
          "cgroup 版本（无法读取 /sys/fs/cgroup）",
        ),
      );
    // Only cgroup v2 delegates to unprivileged users; on v1 the cgroup_v2 check carries the finding.
    if (cgroup.version !== 2)
      return pass(
        text(
          "Delegation exists on cgroup v2 only: on this cgroup v1 host the `cgroup_v2` check carries the finding.",
          "只有 cgroup v2 支持委派：在此 cgroup v1 主机上，由 `cgroup_v2` 检查报告该问题。",
        ),
        { applicable: false, version: cgroup.version },
      );
    if (!cgroup.delegated)
      return unknown(
        text(
          `the delegated controllers (${quoted(cgroup.delegationPath)} does not exist: no systemd user manager runs for ${name})`,
          `委派的控制器（${quoted(cgroup.delegationPath)} 不存在：${name} 没有运行 systemd 用户管理器）`,
        ),
      );
    const delegated = cgroup.delegated;
    const missing = neededControllers.filter((c) => !delegated.includes(c));
    if (missing.length === 0)
      return pass(
        text(
          `cpu, io, memory and pids are delegated to user@${target.uid}.service.`,
          `cpu、io、memory 和 pids 已委派给 user@${target.uid}.service。`,
        ),
        { delegated },
      );
    const conf = `[Service]\nDelegate=cpu cpuset io memory pids`;
    return fail(
      text(
        `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not delegated to user@${target.uid}.service: limits on them are ignored.`,
        `${missing.join("、")} 未委派给 user@${target.uid}.service：对应的资源限制被忽略。`,
      ),
      text(
        `Write /etc/systemd/system/user@.service.d/delegate.conf:\n${conf}\nthen run \`sudo systemctl daemon-reload\` and log in again.`,
        `创建 /etc/systemd/system/user@.service.d/delegate.conf：\n${conf}\n然后运行 \`sudo systemctl daemon-reload\` 并重新登录。`,
      ),
      { delegated, missing },
    );
  },
};
