import type { CheckOf } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { shellQuote } from "../../checks/shell-quote.js";
import type { KernelFacts } from "./kernel.js";
import { pingAllowed } from "./ping.js";

type Own = { readonly kernel: KernelFacts };

const iptablesSet = ["ip_tables", "iptable_mangle", "iptable_nat", "iptable_filter"];
const present = (state: string | undefined) => state === "builtin" || state === "loaded";

export const iptablesModules: CheckOf<Own> = {
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

export const privilegedPorts: CheckOf<Own> = {
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

export const pingGroupRange: CheckOf<Own> = {
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
