import type { Check, Text } from "../../checks/finding.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/finding.js";
import { quoted } from "../../checks/quoted.js";
import { reasonsText } from "../../checks/reasons.js";
import { shellQuote } from "../../checks/shell-quote.js";

/** Host-wide prerequisites of the rootless guide (kernel, helpers, cgroups, modules). */

const sysctlFix = (setting: string) =>
  text(
    `Add \`${setting}\` to /etc/sysctl.conf (or a file in /etc/sysctl.d) and run \`sudo sysctl --system\`.`,
    `将 \`${setting}\` 添加到 \`/etc/sysctl.conf\`（或 \`/etc/sysctl.d\`）并运行 \`sudo sysctl --system\`。`,
  );

export const userNsClone: Check = {
  id: "userns_clone",
  severity: "critical",
  scope: "host",
  evaluate: ({ facts }) => {
    if (!facts.kernel) return unknown(noFacts("kernel"));
    const value = facts.kernel.sysctls["kernel.unprivileged_userns_clone"];
    if (value === undefined) {
      return pass(
        text(
          "kernel.unprivileged_userns_clone does not exist on this kernel: nothing restricts user namespaces here.",
          "此内核没有 kernel.unprivileged_userns_clone：没有限制用户命名空间。",
        ),
      );
    }
    if (value === 1)
      return pass(
        text("kernel.unprivileged_userns_clone is 1.", "kernel.unprivileged_userns_clone 为 1。"),
        { value },
      );
    return fail(
      text(
        `kernel.unprivileged_userns_clone is ${value}: rootlesskit fails with "fork/exec /proc/self/exe: operation not permitted".`,
        `kernel.unprivileged_userns_clone 的值为 ${value}：rootlesskit 会报错 "fork/exec /proc/self/exe: operation not permitted"。`,
      ),
      sysctlFix("kernel.unprivileged_userns_clone=1"),
      { value },
    );
  },
};

export const maxUserNamespaces: Check = {
  id: "max_user_namespaces",
  severity: "critical",
  scope: "host",
  evaluate: ({ facts }) => {
    if (!facts.kernel) return unknown(noFacts("kernel"));
    const value = facts.kernel.sysctls["user.max_user_namespaces"];
    if (value === undefined)
      return unknown(
        text(
          "user.max_user_namespaces (/proc/sys/user/max_user_namespaces is unreadable or absent: a kernel older than 4.9 or without user namespaces)",
          "user.max_user_namespaces（/proc/sys/user/max_user_namespaces 无法读取或不存在：内核早于 4.9 或不支持用户命名空间）",
        ),
      );
    if (value > 0)
      return pass(
        text(`user.max_user_namespaces is ${value}.`, `user.max_user_namespaces 为 ${value}。`),
        { value },
      );
    return fail(
      text(
        `user.max_user_namespaces is 0: rootlesskit fails with "fork/exec /proc/self/exe: no space left on device".`,
        `/proc/sys/user/max_user_namespaces 的值为 0：rootlesskit 会报错 "fork/exec /proc/self/exe: no space left on device"。`,
      ),
      sysctlFix("user.max_user_namespaces=28633"),
      { value },
    );
  },
};

export const apparmorUserNs: Check = {
  id: "apparmor_userns",
  severity: "critical",
  scope: "host",
  evaluate: ({ facts, target }) => {
    const kernel = facts.kernel;
    if (!kernel) return unknown(noFacts("kernel"));
    const restricted = kernel.sysctls["kernel.apparmor_restrict_unprivileged_userns"] === 1;
    if (!restricted) {
      return pass(
        text(
          "AppArmor does not restrict unprivileged user namespaces.",
          "AppArmor 未限制非特权用户命名空间。",
        ),
      );
    }
    const profiles = kernel.apparmor.rootlesskitProfiles;
    if (profiles.length > 0) {
      return pass(
        text(
          `AppArmor restricts user namespaces; ${profiles.map((p) => quoted(p)).join(", ")} lets rootlesskit use them.`,
          `AppArmor 限制了用户命名空间；${profiles.map((p) => quoted(p)).join("、")} 允许 rootlesskit 使用它们。`,
        ),
        { profiles },
      );
    }
    const binary = kernel.rootlesskitBinary?.path ?? `${target?.home ?? "~"}/bin/rootlesskit`;
    // A path a user chose goes into a profile root installs: only plain characters, so a quote
    // or a newline in it cannot add rules of its own.
    if (!/^\/[A-Za-z0-9._+@%,:=/-]+$/.test(binary))
      return fail(
        text(
          `AppArmor restricts unprivileged user namespaces and no profile in /etc/apparmor.d lets rootlesskit (${quoted(binary)}) use them.`,
          `AppArmor 限制了非特权用户命名空间，且 /etc/apparmor.d 中没有允许 rootlesskit（${quoted(binary)}）使用它们的配置文件。`,
        ),
        text(
          "Install docker-ce-rootless-extras from the deb package (it ships the profile), or install rootlesskit under a plain path such as /usr/local/bin/rootlesskit: this path has characters that cannot go into a profile safely.",
          "使用 deb 包安装 docker-ce-rootless-extras（其中已包含配置文件），或者把 rootlesskit 安装到 /usr/local/bin/rootlesskit 这样的普通路径：当前路径含有无法安全写入配置文件的字符。",
        ),
        { binary },
      );
    const file = binary.replace(/^\//, "").replaceAll("/", ".");
    const profile = `abi <abi/4.0>,\ninclude <tunables/global>\n\n"${binary}" flags=(unconfined) {\n  userns,\n\n  include if exists <local/${file}>\n}`;
    return fail(
      text(
        `AppArmor restricts unprivileged user namespaces and no profile in /etc/apparmor.d lets ${binary} use them.`,
        `AppArmor 限制了非特权用户命名空间，且 /etc/apparmor.d 中没有允许 ${binary} 使用它们的配置文件。`,
      ),
      text(
        `Install docker-ce-rootless-extras from the deb package (it ships the profile), or write /etc/apparmor.d/${file}:\n${profile}\nthen run \`sudo systemctl restart apparmor.service\`.`,
        `使用 deb 包安装 docker-ce-rootless-extras（其中已包含配置文件），或者为 rootlesskit 手动添加 AppArmor 配置文件 /etc/apparmor.d/${file}：\n${profile}\n然后重启 AppArmor：\`systemctl restart apparmor.service\`。`,
      ),
      { binary },
    );
  },
};

export const idmapHelpers: Check = {
  id: "idmap_helpers",
  severity: "critical",
  scope: "host",
  evaluate: ({ facts }) => {
    const helpers = facts.kernel?.idmapHelpers;
    const uid = helpers?.["newuidmap"];
    const gid = helpers?.["newgidmap"];
    if (!uid || !gid)
      return unknown(
        text(
          "the setuid bits or file capabilities of newuidmap/newgidmap (no `getcap` to read them)",
          "newuidmap/newgidmap 的 setuid 位或文件能力（没有 `getcap` 可读取）",
        ),
      );
    const bad = [uid, gid].filter((v) => !v.ok).map((v) => v.reason);
    const sentence = (t: Text) => text(`${t.en}.`, `${t["zh-CN"]}。`);
    if (bad.length === 0) return pass(sentence(reasonsText([uid.reason, gid.reason])));
    return fail(
      sentence(reasonsText(bad)),
      text(
        "Install the helpers: `sudo apt-get install -y uidmap` (Debian, Ubuntu) or `sudo dnf install -y shadow-utils`; they must be setuid root (`sudo chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap`) or carry `cap_setuid`/`cap_setgid` (`sudo setcap cap_setuid=ep /usr/bin/newuidmap`, `sudo setcap cap_setgid=ep /usr/bin/newgidmap`).",
        "安装辅助程序：`sudo apt-get install -y uidmap`（Debian、Ubuntu）或 `sudo dnf install -y shadow-utils`；它们必须是 setuid root（`sudo chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap`），或者带有 `cap_setuid`/`cap_setgid` 文件能力（`sudo setcap cap_setuid=ep /usr/bin/newuidmap`，`sudo setcap cap_setgid=ep /usr/bin/newgidmap`）。",
      ),
      { problems: bad },
    );
  },
};

export const cgroupV2: Check = {
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

const iptablesSet = ["ip_tables", "iptable_mangle", "iptable_nat", "iptable_filter"];
const present = (state: string | undefined) => state === "builtin" || state === "loaded";

export const iptablesModules: Check = {
  id: "iptables_modules",
  severity: "warning",
  scope: "host",
  evaluate: ({ facts }) => {
    const kernel = facts.kernel;
    if (!kernel) return unknown(noFacts("kernel"));
    const states = kernel.moduleStates;
    const nft = states?.["nf_tables"];
    const set = iptablesSet.map((name) => ({ name, fact: states?.[name] }));
    // iptables-legacy speaks to ip_tables only; iptables-nft (or an unknown kind) to nf_tables.
    const legacy = kernel.iptables?.variant === "legacy";
    const evidence = {
      ...Object.fromEntries(
        [["nf_tables", nft] as const, ...set.map((m) => [m.name, m.fact] as const)].map(
          ([name, fact]) => [name, fact && `${fact.state} (${fact.evidence})`],
        ),
      ),
      iptables: kernel.iptables?.program ?? kernel.iptables?.path,
    };
    const kind = legacy
      ? text(
          `iptables is iptables-legacy (${quoted(kernel.iptables?.program ?? "")}), which needs ip_tables: `,
          `iptables 为 iptables-legacy（${quoted(kernel.iptables?.program ?? "")}），需要 ip_tables：`,
        )
      : text("", "");
    if (!legacy && present(nft?.state))
      return pass(
        text(
          `nf_tables is ${nft?.state === "builtin" ? "built in" : "loaded"} (${nft?.evidence}).`,
          `nf_tables ${nft?.state === "builtin" ? "已编译进内核" : "已加载"}（${nft?.evidence}）。`,
        ),
        evidence,
      );
    if (set.every((m) => present(m.fact?.state)))
      return pass(
        text(
          `${kind.en}ip_tables, iptable_mangle, iptable_nat and iptable_filter are built in or loaded.`,
          `${kind["zh-CN"]}ip_tables、iptable_mangle、iptable_nat 和 iptable_filter 已编译进内核或已加载。`,
        ),
        evidence,
      );
    // The kernel loads nf_tables itself when iptables-nft first opens its netlink socket; the
    // ip_tables set is loaded by iptables-legacy through modprobe, which needs root.
    if (!legacy && nft?.state === "loadable")
      return pass(
        text(
          `nf_tables is a module the kernel loads on first use (${nft.evidence}).`,
          `nf_tables 是内核在首次使用时自动加载的模块（${nft.evidence}）。`,
        ),
        evidence,
      );
    const absent = set.filter((m) => m.fact?.state === "absent").map((m) => m.name);
    const nftOut = legacy || nft?.state === "absent";
    if (absent.length > 0 && nftOut) {
      return fail(
        text(
          `${legacy ? `${kind.en}this kernel has no` : "This kernel has neither nf_tables nor"} ${absent.join(", ")}: rootless dockerd cannot set up its iptables rules.`,
          `${kind["zh-CN"]}此内核${legacy ? "没有" : "既没有 nf_tables，也没有"} ${absent.join("、")}：rootless dockerd 无法设置 iptables 规则。`,
        ),
        text(
          "Boot a kernel built with `CONFIG_NF_TABLES` or `CONFIG_IP_NF_IPTABLES` (every distribution kernel is), or run dockerd with `--iptables=false`.",
          "请使用启用了 `CONFIG_NF_TABLES` 或 `CONFIG_IP_NF_IPTABLES` 编译的内核（各发行版的内核均已启用），或者以 `--iptables=false` 运行 dockerd。",
        ),
        { ...evidence, absent },
      );
    }
    const undecided = [
      ...(nftOut || nft ? [] : ["nf_tables"]),
      ...set.filter((m) => !m.fact).map((m) => m.name),
    ];
    if (undecided.length > 0) {
      const looked = kernel.modulesMissingEvidence ?? "/proc/modules, /sys/module";
      return unknown(
        text(
          `${undecided.join(", ")} (nothing in ${looked}, /proc/net/ip_tables_names decides)`,
          `${undecided.join("、")}（${looked}、/proc/net/ip_tables_names 都无法判定）`,
        ),
      );
    }
    const loadable = set.filter((m) => m.fact?.state === "loadable").map((m) => m.name);
    return fail(
      text(
        `${kind.en}${legacy ? "" : "nf_tables is absent and "}${loadable.join(", ")} ${loadable.length === 1 ? "is a module" : "are modules"} that only root can load: rootless dockerd's iptables fails.`,
        `${kind["zh-CN"]}${legacy ? "" : "nf_tables 不可用，且 "}${loadable.join("、")} 是只有 root 才能加载的模块：rootless dockerd 的 iptables 会失败。`,
      ),
      text(
        `Run \`sudo modprobe ${iptablesSet.join(" ")}\` (openSUSE and SLES need it; other distributions may too), and list them in /etc/modules-load.d/rootless-docker.conf to load them at boot.`,
        `需要运行 \`sudo modprobe ${iptablesSet.join(" ")}\`（openSUSE 和 SLES 需要此操作，其他发行版可能也需要），并写入 /etc/modules-load.d/rootless-docker.conf 以便开机加载。`,
      ),
      { ...evidence, loadable },
    );
  },
};

export const privilegedPorts: Check = {
  id: "privileged_ports",
  severity: "info",
  scope: "host",
  evaluate: ({ facts }) => {
    if (!facts.kernel) return unknown(noFacts("kernel"));
    const version = facts.kernel.version;
    // The sysctl came with Linux 4.11; before it, every port below 1024 is privileged.
    const older =
      version !== undefined && (version.major < 4 || (version.major === 4 && version.minor < 11));
    const start =
      facts.kernel.sysctls["net.ipv4.ip_unprivileged_port_start"] ?? (older ? 1024 : undefined);
    if (start === undefined)
      return unknown(
        text(
          "net.ipv4.ip_unprivileged_port_start (unreadable, on a kernel that has it)",
          "net.ipv4.ip_unprivileged_port_start（内核有此参数，但无法读取）",
        ),
      );
    if (start === 0)
      return pass(
        text(
          "net.ipv4.ip_unprivileged_port_start is 0: every port can be published.",
          "net.ipv4.ip_unprivileged_port_start 为 0：所有端口都可以暴露。",
        ),
        { start },
      );
    const binary = facts.kernel?.rootlesskitBinary;
    if (binary?.netBindService === true) {
      return pass(
        text(
          `${quoted(binary.path)} has cap_net_bind_service: ports below ${start} can be published.`,
          `${quoted(binary.path)} 带有 cap_net_bind_service：可以暴露低于 ${start} 的端口。`,
        ),
        { start },
      );
    }
    if (binary && binary.netBindService === undefined)
      return unknown(
        text(
          "the file capabilities of rootlesskit (no `getcap` to read them)",
          "rootlesskit 的文件能力（没有 `getcap` 可读取）",
        ),
      );
    return fail(
      text(
        `Ports below ${start} cannot be published (\`docker run -p 80:80\` fails with "cannot expose privileged port").`,
        `低于 ${start} 的端口无法暴露（\`docker run -p 80:80\` 会失败并提示 "cannot expose privileged port"）。`,
      ),
      text(
        `Publish a port >= ${start} (8080 instead of 80), or add \`net.ipv4.ip_unprivileged_port_start=0\` to /etc/sysctl.conf and run \`sudo sysctl --system\`, or run \`sudo setcap cap_net_bind_service=ep ${binary ? shellQuote(binary.path) : "$(which rootlesskit)"}\` and restart the daemon.`,
        `请考虑改用非特权端口（例如用 8080 代替 80），或者将 \`net.ipv4.ip_unprivileged_port_start=0\` 添加到 /etc/sysctl.conf 并运行 \`sudo sysctl --system\`，或者运行 \`sudo setcap cap_net_bind_service=ep ${binary ? shellQuote(binary.path) : "$(which rootlesskit)"}\` 并重启守护进程。`,
      ),
      { start },
    );
  },
};
