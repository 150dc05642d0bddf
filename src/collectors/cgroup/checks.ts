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

export const systemdOomd: CheckOf<Own> = {
  id: "systemd_oomd",
  severity: "info",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const cgroup = facts.cgroup;
    if (!cgroup) return unknown(noFacts("cgroup"));
    const oomd = cgroup.oomd;
    const service = `user@${target.uid}.service`;
    if (!oomd)
      return unknown(
        text(
          "what systemd-oomd watches (the system manager did not answer on the system bus)",
          "systemd-oomd 监视的对象（系统管理器未在系统总线上应答）",
        ),
      );
    const settings = oomd.memoryPressure.map((s) => `${s.unit}=${s.value}`).join(", ");
    if (!oomd.active)
      return pass(text("systemd-oomd is not running.", "systemd-oomd 未在运行。"), { ...oomd });
    if (!oomd.watchedBy)
      return pass(
        text(
          `systemd-oomd runs, and no unit from ${service} up sets ManagedOOMMemoryPressure=kill (${settings}).`,
          `systemd-oomd 正在运行，但从 ${service} 往上没有任何单元设置 ManagedOOMMemoryPressure=kill（${settings}）。`,
        ),
        { ...oomd },
      );
    // A drop-in on the unit that sets kill: user@.service's template, or the slice itself.
    const watched = oomd.watchedBy;
    const isService = watched === service;
    const file = `/etc/systemd/system/${isService ? "user@.service" : watched}.d/oomd.conf`;
    const dropIn = `[${isService ? "Service" : "Slice"}]\nManagedOOMMemoryPressure=auto`;
    return fail(
      text(
        `systemd-oomd watches the memory pressure of ${oomd.watchedBy} (ManagedOOMMemoryPressure=kill): when it stays above the limit (60% for 30 s by default), oomd kills a cgroup below it, which can be the user's docker.service with every container in it.`,
        `systemd-oomd 监视 ${oomd.watchedBy} 的内存压力（ManagedOOMMemoryPressure=kill）：当压力持续高于上限（默认 30 秒内 60%）时，oomd 会杀死其下的某个 cgroup，这可能是该用户的 docker.service 及其中的所有容器。`,
      ),
      text(
        `Give containers memory limits (\`docker run --memory\`) and watch rootless_user_pressure_seconds_total{resource="memory"}; to keep oomd away from ${service}, write ${file}:\n${dropIn}\n(or set a higher ManagedOOMMemoryPressureLimit= there), then run \`sudo systemctl daemon-reload\`.`,
        `为容器设置内存限制（\`docker run --memory\`），并关注 rootless_user_pressure_seconds_total{resource="memory"}；若要让 oomd 不再处理 ${service}，创建 ${file}：\n${dropIn}\n（或在其中调高 ManagedOOMMemoryPressureLimit=），然后运行 \`sudo systemctl daemon-reload\`。`,
      ),
      { ...oomd },
    );
  },
};
