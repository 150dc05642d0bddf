import type { Controller } from "../cgroup/cgroup.js";
import type { SubidFileFacts } from "./subid.js";
import type { Check, CheckInput, Verdict } from "../../checks/finding.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/finding.js";
import { pingAllowed } from "../../checks/ping.js";
import { quoted } from "../../checks/quoted.js";
import { reasonText } from "../../checks/reasons.js";
import { shellQuote } from "../../checks/shell-quote.js";

/** Per-user setup: subordinate IDs, session, linger, delegation, ping. */

/** The guide: "65,536 entries are sufficient for most images". */
export const minimumSubids = 65536;

function subidRange(kind: "uid" | "gid"): Check {
  const file = kind === "uid" ? "/etc/subuid" : "/etc/subgid";
  const flag = kind === "uid" ? "--add-subuids" : "--add-subgids";
  return {
    id: `sub${kind}_range`,
    severity: "critical",
    scope: "user",
    evaluate: ({ facts, target }: CheckInput): Verdict => {
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

export const subidOverlap: Check = {
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

export const xdgRuntimeDir: Check = {
  id: "xdg_runtime_dir",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const name = quoted(target.name);
    const dir = facts.docker?.runtimeDir;
    if (!dir) return unknown(noFacts("docker"));
    const path = quoted(dir.path);
    const fix = text(
      `Log in through pam_systemd (\`ssh ${shellQuote(`${target.name}@localhost`)}\`, \`machinectl shell ${shellQuote(`${target.name}@`)}\`, not \`sudo -iu\`) so that /run/user/${target.uid} is made for you; on a host without systemd: \`export XDG_RUNTIME_DIR=$HOME/.docker/xrd; rm -rf $XDG_RUNTIME_DIR; mkdir -p $XDG_RUNTIME_DIR\` (mode 0700).`,
      `在 systemd 主机上，使用 pam_systemd 登录到主机（\`ssh ${shellQuote(`${target.name}@localhost`)}\`、\`machinectl shell ${shellQuote(`${target.name}@`)}\`，而不是 \`sudo -iu\`），该值会自动设置为 /run/user/${target.uid}；在非 systemd 主机上，您需要创建一个目录然后设置路径：\`export XDG_RUNTIME_DIR=$HOME/.docker/xrd; rm -rf $XDG_RUNTIME_DIR; mkdir -p $XDG_RUNTIME_DIR\`（权限 0700）。`,
    );
    if (dir.unverified !== undefined)
      return unknown(
        text(
          `${path}, which could not be verified as the user's (\`${reasonText(dir.unverified).en}\`)`,
          `${path}，无法确认其属于该用户（\`${reasonText(dir.unverified).en}\`）`,
        ),
      );
    if (!dir.exists)
      return fail(
        text(
          `${path} does not exist ("could not get XDG_RUNTIME_DIR").`,
          `${path} 不存在（"could not get XDG_RUNTIME_DIR"）。`,
        ),
        fix,
        { path: dir.path },
      );
    const mode = (dir.mode ?? 0).toString(8).padStart(4, "0");
    if (dir.ownerUid !== target.uid || (dir.mode ?? 0) !== 0o700) {
      return fail(
        text(
          `${path} belongs to uid ${dir.ownerUid} with mode ${mode}; it must be ${name}'s with mode 0700.`,
          `${path} 属于 uid ${dir.ownerUid}，权限为 ${mode}；它必须属于 ${name} 且权限为 0700。`,
        ),
        fix,
        { path: dir.path, owner: dir.ownerUid, mode },
      );
    }
    return pass(text(`${path} is ${name}'s, mode 0700.`, `${path} 属于 ${name}，权限 0700。`), {
      path: dir.path,
    });
  },
};

export const dbusUserBus: Check = {
  id: "dbus_user_bus",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) => {
    const dbus = facts.dbus;
    if (!dbus) return unknown(noFacts("dbus"));
    const address = quoted(dbus.address);
    if (dbus.busUp)
      return pass(text(`The user bus at ${address} answers.`, `${address} 上的用户总线有响应。`), {
        address: dbus.address,
      });
    const error = dbus.error ? reasonText(dbus.error) : undefined;
    return fail(
      text(
        `The user bus at ${address} does not answer${error ? ` (${error.en})` : ""}: on cgroup v2, \`docker run\` fails with "read unix @->/run/systemd/private: connection reset by peer".`,
        `${address} 上的用户总线没有响应${error ? `（${error["zh-CN"]}）` : ""}：在 cgroup v2 主机上，\`docker run\` 会报错 "read unix @->/run/systemd/private: connection reset by peer"。`,
      ),
      text(
        "Run `sudo apt-get install -y dbus-user-session` or `sudo dnf install -y dbus-daemon`, then log in again. If it still fails, run `systemctl --user enable --now dbus` (without sudo).",
        "请运行 `sudo apt-get install -y dbus-user-session` 或 `sudo dnf install -y dbus-daemon`，然后重新登录。如果错误仍然存在，请尝试运行 `systemctl --user enable --now dbus`（无需 sudo）。",
      ),
      { address: dbus.address, error: dbus.error },
    );
  },
};

export const dockerService: Check = {
  id: "docker_service",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) => {
    const unit = facts.dbus?.units?.find((u) => u.unit === "docker.service");
    // Without systemd as init there is no user manager: the guide starts dockerd-rootless.sh by hand.
    if (!unit?.activeState && facts.kernel?.systemdBooted === false)
      return pass(
        text(
          "systemd is not the init system here (no /run/systemd/system): docker.service does not apply, and `dockerd_running` judges the daemon.",
          "此主机的 init 系统不是 systemd（没有 /run/systemd/system）：docker.service 不适用，由 `dockerd_running` 检查守护进程。",
        ),
        { applicable: false },
      );
    if (!unit?.activeState)
      return unknown(
        text(
          "the state of docker.service (no systemd user manager answered on the user bus)",
          "docker.service 的状态（用户总线上没有 systemd 用户管理器响应）",
        ),
      );
    if (unit.activeState === "active")
      return pass(text("docker.service is active.", "docker.service 处于活动状态。"));
    return fail(
      text(
        `docker.service of the user manager is ${quoted(unit.activeState)}.`,
        `用户管理器中的 docker.service 状态为 ${quoted(unit.activeState)}。`,
      ),
      text(
        "Run `systemctl --user enable --now docker` and see `journalctl --user -u docker` for why it stopped.",
        "运行 `systemctl --user enable --now docker`，并查看 `journalctl --user -u docker` 了解其停止原因。",
      ),
      { activeState: unit.activeState },
    );
  },
};

export const linger: Check = {
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

/** cpuset is optional; the guide's --cpus, --memory and --pids-limit need the other four. */
const neededControllers: readonly Controller[] = ["cpu", "io", "memory", "pids"];

export const cgroupDelegation: Check = {
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

export const pingGroupRange: Check = {
  id: "ping_group_range",
  severity: "info",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const name = quoted(target.name);
    const kernel = facts.kernel;
    if (!kernel?.pingGroupRange)
      return unknown(
        text(
          "net.ipv4.ping_group_range (/proc/sys/net/ipv4/ping_group_range is unreadable)",
          "net.ipv4.ping_group_range（无法读取 /proc/sys/net/ipv4/ping_group_range）",
        ),
      );
    const { low, high } = kernel.pingGroupRange;
    if (pingAllowed(kernel.pingGroupRange, target.groups))
      return pass(
        text(
          `One of ${name}'s groups is in ping_group_range ${low}-${high}.`,
          `${name} 的某个组在 ping_group_range ${low}-${high} 内。`,
        ),
      );
    return fail(
      text(
        `ping does not work in containers: ${name}'s groups are outside net.ipv4.ping_group_range (${low} ${high}).`,
        `Ping 不工作：${name} 的组不在 net.ipv4.ping_group_range（${low} ${high}）内。`,
      ),
      text(
        "Add `net.ipv4.ping_group_range = 0 2147483647` to /etc/sysctl.conf and run `sudo sysctl --system`.",
        "将 `net.ipv4.ping_group_range = 0 2147483647` 添加到 /etc/sysctl.conf 并运行 `sudo sysctl --system`（参见路由 ping 数据包）。",
      ),
      { low, high, groups: target.groups },
    );
  },
};
