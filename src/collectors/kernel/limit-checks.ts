import type { CheckOf, Text } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import type { KernelFacts } from "./kernel.js";

type Own = { readonly kernel: KernelFacts };

/** The thresholds beyond the guide: rootlesskit's own warnings, SELinux, inotify instances. */

/** rootlesskit's pkg/parent/warn.go: below this, "may be low". */
export const userNamespacesThreshold = 1024;

/** The share of fs.inotify.max_user_instances past which the next containers may fail. */
export const inotifyShare = 0.8;

/** Set now with `sysctl -w`, and kept across reboots in a file of /etc/sysctl.d. */
const sysctlNowAndAtBoot = (name: string, value: number, file: string): Text =>
  text(
    `Run \`sudo sysctl -w ${name}=${value}\`, and write \`${name}=${value}\` to ${file} so that it survives a reboot.`,
    `运行 \`sudo sysctl -w ${name}=${value}\`，并将 \`${name}=${value}\` 写入 ${file}，使其在重启后仍然生效。`,
  );

export const maxUserNamespacesLow: CheckOf<Own> = {
  id: "max_user_namespaces_low",
  severity: "warning",
  scope: "host",
  evaluate: ({ facts }) => {
    if (!facts.kernel) return unknown(noFacts("kernel"));
    const value = facts.kernel.sysctls["user.max_user_namespaces"];
    if (value === undefined)
      return unknown(
        text(
          "user.max_user_namespaces (/proc/sys/user/max_user_namespaces is unreadable or absent)",
          "user.max_user_namespaces（/proc/sys/user/max_user_namespaces 无法读取或不存在）",
        ),
      );
    if (value === 0)
      return pass(
        text(
          "user.max_user_namespaces is 0: the `max_user_namespaces` check carries that finding.",
          "user.max_user_namespaces 为 0：由 `max_user_namespaces` 检查报告该问题。",
        ),
        { value, applicable: false },
      );
    if (value >= userNamespacesThreshold)
      return pass(
        text(
          `user.max_user_namespaces is ${value}, at least ${userNamespacesThreshold}.`,
          `user.max_user_namespaces 为 ${value}，不低于 ${userNamespacesThreshold}。`,
        ),
        { value },
      );
    return fail(
      text(
        `/proc/sys/user/max_user_namespaces=${value} may be low (rootlesskit warns below ${userNamespacesThreshold}): every container, and every user namespace a program in it makes, takes one.`,
        `/proc/sys/user/max_user_namespaces=${value} 可能过低（低于 ${userNamespacesThreshold} 时 rootlesskit 会发出警告）：每个容器以及其中程序创建的每个用户命名空间都占用一个名额。`,
      ),
      sysctlNowAndAtBoot("user.max_user_namespaces", 28633, "/etc/sysctl.d/99-rootless.conf"),
      { value, threshold: userNamespacesThreshold },
    );
  },
};

export const rootPropagation: CheckOf<Own> = {
  id: "root_propagation",
  severity: "warning",
  scope: "host",
  evaluate: ({ facts }) => {
    if (!facts.kernel) return unknown(noFacts("kernel"));
    const root = facts.kernel.rootMount;
    if (!root)
      return unknown(
        text(
          "the propagation of `/` (neither /proc/1/mountinfo nor /proc/self/mountinfo shows it)",
          "`/` 的传播类型（/proc/1/mountinfo 和 /proc/self/mountinfo 中均未显示）",
        ),
      );
    const as = root.optional === "" ? "private (no propagation fields)" : quoted(root.optional);
    const asZh = root.optional === "" ? "私有（没有传播字段）" : quoted(root.optional);
    if (root.shared)
      return pass(
        text(
          `The host root filesystem is a shared mount (${as} in ${root.source}).`,
          `主机根文件系统是共享挂载（${root.source} 中为 ${as}）。`,
        ),
        { ...root },
      );
    return fail(
      text(
        `The host root filesystem is mounted as ${as} in ${root.source}, not shared: rootlesskit warns that setting child propagation to "rslave" is not supported, and mounts with shared or slave propagation do not reach containers.`,
        `主机根文件系统在 ${root.source} 中的挂载传播为 ${asZh}，不是共享挂载：rootlesskit 会警告不支持将子命名空间的传播类型设为 "rslave"，共享或从属传播的挂载无法到达容器。`,
      ),
      text(
        "Run `sudo mount --make-rshared /`. systemd makes `/` shared at boot: a private `/` comes from a boot script or an init that is not systemd, and `master:N` alone means the host is itself a container, whose runtime must give it a shared root.",
        "运行 `sudo mount --make-rshared /`。systemd 在启动时会把 `/` 设为共享挂载：私有的 `/` 来自某个启动脚本或非 systemd 的 init 程序；只有 `master:N` 则说明该主机本身是一个容器，需要由其容器运行时提供共享的根挂载。",
      ),
      { ...root },
    );
  },
};

export const selinuxMode: CheckOf<Own> = {
  id: "selinux",
  severity: "info",
  scope: "host",
  evaluate: ({ facts }) => {
    if (!facts.kernel) return unknown(noFacts("kernel"));
    const mode = facts.kernel.selinux;
    if (!mode)
      return unknown(
        text(
          "the SELinux mode (/sys/fs/selinux/enforce is unreadable)",
          "SELinux 模式（无法读取 /sys/fs/selinux/enforce）",
        ),
      );
    if (mode !== "enforcing")
      return pass(text(`SELinux is ${mode}.`, `SELinux 处于 ${mode} 状态。`), { mode });
    return fail(
      text(
        'SELinux is enforcing: unless dockerd-rootless.sh sees it, iptables in rootless Docker fails with "can\'t open lock file /run/xtables.lock: Permission denied" (moby 41230), and overlay2 with "permission denied" under overlay2/<id>-init (moby 42333).',
        'SELinux 处于 enforcing 状态：除非 dockerd-rootless.sh 检测到它，rootless Docker 中的 iptables 会报错 "can\'t open lock file /run/xtables.lock: Permission denied"（moby 41230），overlay2 会在 overlay2/<id>-init 下报错 "permission denied"（moby 42333）。',
      ),
      text(
        'Run a dockerd-rootless.sh that relabels /run for iptables and avoids overlay2 under SELinux (moby 42199, 42334): it sees SELinux only through the `selinuxenabled` command, so install it (`sudo dnf install -y libselinux-utils`) with the container policy (`sudo dnf install -y container-selinux`); or set `{"storage-driver": "fuse-overlayfs"}` in ~/.config/docker/daemon.json.',
        '使用会为 iptables 重新标记 /run、并在 SELinux 下避开 overlay2 的 dockerd-rootless.sh（moby 42199、42334）：它只通过 `selinuxenabled` 命令检测 SELinux，因此请安装该命令（`sudo dnf install -y libselinux-utils`）和容器策略（`sudo dnf install -y container-selinux`）；或者在 ~/.config/docker/daemon.json 中设置 `{"storage-driver": "fuse-overlayfs"}`。',
      ),
      { mode },
    );
  },
};

/** A new limit with room for twice today's instances, and never below 1024. */
function roomFor(instances: number): number {
  return Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(1, instances * 2))));
}

export const inotifyInstances: CheckOf<Own> = {
  id: "inotify_instances",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts, target }) => {
    if (!facts.kernel) return unknown(noFacts("kernel"));
    const limit = facts.kernel.sysctls["fs.inotify.max_user_instances"];
    const count = facts.kernel.inotify?.[target.uid];
    const name = quoted(target.name);
    if (limit === undefined)
      return unknown(
        text(
          "fs.inotify.max_user_instances (/proc/sys/fs/inotify/max_user_instances is unreadable)",
          "fs.inotify.max_user_instances（无法读取 /proc/sys/fs/inotify/max_user_instances）",
        ),
      );
    if (!count)
      return unknown(
        text(
          `the inotify instances of ${name} (their processes were not counted)`,
          `${name} 的 inotify 实例数（未统计其进程）`,
        ),
      );
    const { instances, complete } = count;
    const threshold = Math.floor(limit * inotifyShare);
    const { processes, unreadable } = count;
    const factsOf = { instances, limit, complete, processes, unreadable };
    if (instances < threshold && !complete)
      return unknown(
        text(
          `the inotify instances of ${name}: at least ${instances} in the first ${count.descriptors} descriptors of ${count.processes} processes, where the count stopped`,
          `${name} 的 inotify 实例数：在 ${count.processes} 个进程的前 ${count.descriptors} 个文件描述符中至少有 ${instances} 个，统计在此处停止`,
        ),
      );
    const atLeast = complete ? "" : "at least ";
    const skipped = text(
      unreadable > 0 ? ` (${unreadable} of their processes could not be read)` : "",
      unreadable > 0 ? `（其中 ${unreadable} 个进程无法读取）` : "",
    );
    if (instances < threshold)
      return pass(
        text(
          `${name} holds ${instances} of the ${limit} inotify instances fs.inotify.max_user_instances allows${skipped.en}.`,
          `${name} 占用了 fs.inotify.max_user_instances 允许的 ${limit} 个 inotify 实例中的 ${instances} 个${skipped["zh-CN"]}。`,
        ),
        factsOf,
      );
    return fail(
      text(
        `${name} holds ${atLeast}${instances} of the ${limit} inotify instances fs.inotify.max_user_instances allows: past the limit, containers and programs in them fail with "too many open files" (inotify_init: EMFILE).`,
        `${name} 占用了 fs.inotify.max_user_instances 允许的 ${limit} 个 inotify 实例中的${complete ? "" : "至少"} ${instances} 个：超过上限后，容器及其中的程序会报错 "too many open files"（inotify_init: EMFILE）。`,
      ),
      sysctlNowAndAtBoot(
        "fs.inotify.max_user_instances",
        roomFor(instances),
        "/etc/sysctl.d/99-rootless.conf",
      ),
      factsOf,
    );
  },
};
