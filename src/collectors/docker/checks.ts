import type { ConfiguredDaemon } from "./docker-config.js";
import type { DockerFacts } from "./docker.js";
import type { ScriptDefault } from "../network/network-config.js";
import type { CheckInput, Check, Text } from "../../checks/finding.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/finding.js";
import { mtuEvidence, probedHere } from "../../checks/mtu-evidence.js";
import { quoted } from "../../checks/quoted.js";
import { reasonText } from "../../checks/reasons.js";
import { shellQuote } from "../../checks/shell-quote.js";

/** The running rootless daemon: rootlesskit, dockerd, storage, network (the guide's driver table). */

/** What only a running daemon's `GET /info` can say, and why it is missing. */
function daemonDown(docker: DockerFacts | undefined, en: string, zh: string): Text {
  if (!docker) return noFacts("docker");
  if (!docker.dockerdUp)
    return text(
      `${en} (dockerd is not running: only its \`GET /info\` tells)`,
      `${zh}（dockerd 未运行：只有它的 \`GET /info\` 能说明）`,
    );
  return text(
    `${en} (dockerd's \`GET /info\` gave no answer)`,
    `${zh}（dockerd 的 \`GET /info\` 没有响应）`,
  );
}

/** ~/.config/docker/daemon.json exists but was not used: say why, never its content. */
function configUnusable(configured: ConfiguredDaemon): Text {
  const why: Record<string, [string, string]> = {
    malformed: ["is not a JSON object", "不是 JSON 对象"],
    unsafe: [
      "is a symlink, not a regular file or not the user's",
      "是符号链接、不是普通文件或不属于该用户",
    ],
    too_large: ["is too large", "过大"],
    unreadable: ["is unreadable", "无法读取"],
  };
  const [en, zh] = why[configured.configState] ?? ["is unreadable", "无法读取"];
  const file = quoted(configured.configFile);
  return text(
    `what dockerd would use (it is not running, and ${file} ${en})`,
    `dockerd 将使用的配置（它未运行，且 ${file} ${zh}）`,
  );
}

/** Where a driver or data root of a dockerd that is not running comes from, as a clause. */
function notRunning(source: string | undefined): Text {
  const from = source === undefined ? undefined : quoted(source);
  return text(
    ` (dockerd is not running; from ${from ?? "the defaults"})`,
    `（dockerd 未运行；依据：${from ?? "默认值"}）`,
  );
}

/** The network driver comes from rootlesskit (API, process, `--net`), else from the user's unit. */
function noDriver(facts: CheckInput["facts"]): Text {
  if (!facts.network) return noFacts("network");
  if (facts.network.configured)
    return text(
      "the network driver (no rootlesskit runs, no `DOCKERD_ROOTLESS_ROOTLESSKIT_NET` is set, and neither slirp4netns nor vpnkit is installed: dockerd-rootless.sh would not start)",
      "网络驱动（rootlesskit 未运行，未设置 `DOCKERD_ROOTLESS_ROOTLESSKIT_NET`，且 slirp4netns 和 vpnkit 都未安装：dockerd-rootless.sh 将无法启动）",
    );
  return text(
    "the network driver (no rootlesskit runs, and there is no ~/.config/systemd/user/docker.service: no rootless Docker is set up for this user)",
    "网络驱动（rootlesskit 未运行，也没有 ~/.config/systemd/user/docker.service：该用户没有设置 rootless Docker）",
  );
}

/** The running network, else what the user's docker.service would start, with a clause saying so. */
function effectiveNetwork(facts: CheckInput["facts"]) {
  const network = facts.network;
  const configured = network?.driver ? undefined : network?.configured;
  if (!configured) return { driver: network?.driver, mtu: network?.mtu, clause: text("", "") };
  const clause = (source: string) => {
    const isDefault = source === ("dockerd-rootless.sh's default" satisfies ScriptDefault);
    const from = isDefault ? source : quoted(source);
    return text(
      ` (rootlesskit is not running; from ${from})`,
      `（rootlesskit 未运行；依据：${isDefault ? "dockerd-rootless.sh 的默认值" : from}）`,
    );
  };
  return {
    driver: configured.driver,
    mtu: configured.mtu,
    port: configured.portDriver,
    clause: clause(configured.sources.driver),
    mtuClause: clause(configured.sources.mtu),
    portClause: clause(configured.sources.portDriver),
  };
}

const startFix = text(
  "Start it: `systemctl --user start docker` (or `dockerd-rootless.sh` where there is no systemd), and see `journalctl --user -u docker` for why it is down.",
  "启动它：`systemctl --user start docker`（没有 systemd 时运行 `dockerd-rootless.sh`），并查看 `journalctl --user -u docker` 了解其停止原因。",
);

export const rootlesskitRunning: Check = {
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

export const dockerdRunning: Check = {
  id: "dockerd_running",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts }) => {
    const docker = facts.docker;
    if (!docker) return unknown(noFacts("docker"));
    // docker.pid unreadable or refused: only an answering API tells that dockerd runs.
    if (docker.dockerdUp === undefined && !docker.apiUp)
      return unknown(
        text(
          `whether dockerd runs (docker.pid: ${docker.pidFile}, and the API does not answer)`,
          `dockerd 是否在运行（docker.pid：${docker.pidFile}，且 API 无应答）`,
        ),
      );
    const socket = quoted(docker.socket);
    if ((docker.dockerdUp ?? true) && docker.apiUp)
      return pass(
        text(`dockerd runs and answers on ${socket}.`, `dockerd 正在运行，并在 ${socket} 上响应。`),
      );
    const apiError = docker.apiError === undefined ? undefined : reasonText(docker.apiError);
    const why = docker.dockerdUp
      ? text(
          `dockerd runs but its API on ${socket} does not answer (${apiError?.en ?? "no answer"}).`,
          `dockerd 正在运行，但 ${socket} 上的 API 没有响应（${apiError?.["zh-CN"] ?? "无响应"}）。`,
        )
      : text(
          `dockerd is not running (docker.pid: ${docker.pidFile}).`,
          `dockerd 未运行（docker.pid：${docker.pidFile}）。`,
        );
    return fail(why, startFix, { pidFile: docker.pidFile, apiError: docker.apiError });
  },
};

export const stateDirStale: Check = {
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

export const storageDriver: Check = {
  id: "storage_driver",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts }) => {
    const configured = facts.docker?.configured;
    const running = facts.docker?.info?.storageDriver;
    const driver = running ?? configured?.storageDriver;
    const verdicts = facts.kernel?.storageDrivers as
      Record<string, { ok: boolean; reason: string } | undefined> | undefined;
    if (!driver && configured?.dataRoot !== undefined && verdicts) {
      // dockerd, started with nothing configured and no prior driver, takes the first that works.
      const first = ["overlay2", "fuse-overlayfs", "vfs"].find((d) => verdicts[d]?.ok) ?? "vfs";
      const [file, dataRoot] = [quoted(configured.configFile), quoted(configured.dataRoot)];
      return pass(
        text(
          `dockerd is not running; ${file} names no storage-driver and ${dataRoot} holds none yet: dockerd will take the first that works here (${first}).`,
          `dockerd 未运行；${file} 没有指定 storage-driver，${dataRoot} 中也还没有：dockerd 将选用此处第一个可用的驱动（${first}）。`,
        ),
        { driver: first, source: "dockerd's default" },
      );
    }
    if (!driver)
      return unknown(
        configured && configured.configState !== "ok" && configured.configState !== "missing"
          ? configUnusable(configured)
          : daemonDown(facts.docker, "the daemon's storage driver", "守护进程的存储驱动"),
      );
    if (!verdicts) return unknown(noFacts("kernel"));
    const verdict = verdicts[driver];
    const source = running
      ? undefined
      : configured?.storageDriverSource === "daemon.json"
        ? configured.configFile
        : `${configured?.dataRoot ?? ""}/${driver}`;
    const clause = running ? text("", "") : notRunning(source);
    const name = quoted(driver);
    if (verdict?.ok) {
      const reason = reasonText(verdict.reason);
      return pass(
        text(
          `${name} works rootless here (${reason.en})${clause.en}.`,
          `${name} 可在此以 rootless 模式运行（${reason["zh-CN"]}）${clause["zh-CN"]}。`,
        ),
        { driver, ...(source !== undefined && { source }) },
      );
    }
    if (!verdict && ["overlay2", "fuse-overlayfs", "btrfs", "vfs"].includes(driver))
      return unknown(
        text(
          `support for ${name} (the kernel release is unreadable)`,
          `对 ${name} 的支持（无法读取内核版本）`,
        ),
      );
    const why =
      verdict?.reason ?? "rootless mode supports only overlay2, fuse-overlayfs, btrfs and vfs";
    const whyText = reasonText(why);
    return fail(
      text(
        `The daemon uses ${name}${clause.en}, which cannot work rootless here: ${whyText.en}.`,
        `守护进程使用 ${name}${clause["zh-CN"]}，它无法在此以 rootless 模式工作：${whyText["zh-CN"]}。`,
      ),
      text(
        'Use a supported driver: overlay2 (kernel 5.11 or newer), fuse-overlayfs (kernel 4.18 or newer, `sudo apt-get install -y fuse-overlayfs` or `sudo dnf install -y fuse-overlayfs`), btrfs, or vfs; set it in ~/.config/docker/daemon.json (`{"storage-driver":"fuse-overlayfs"}`) and restart the daemon.',
        '仅支持以下存储驱动：overlay2（仅在内核 5.11 或更高版本上）、fuse-overlayfs（内核 4.18 或更高版本，且已安装 `fuse-overlayfs`）、btrfs、vfs；在 ~/.config/docker/daemon.json 中设置（`{"storage-driver":"fuse-overlayfs"}`）并重启守护进程。',
      ),
      { driver, reason: why },
    );
  },
};

export const dataRootNfs: Check = {
  id: "data_root_nfs",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts }) => {
    const configured = facts.docker?.configured;
    const fromConfig =
      configured?.dataRoot !== undefined && configured.dataRootFs !== undefined
        ? { path: configured.dataRoot, fsType: configured.dataRootFs }
        : undefined;
    const root = facts.docker?.dataRoot ?? fromConfig;
    if (!root)
      return unknown(
        configured && configured.configState !== "ok" && configured.configState !== "missing"
          ? configUnusable(configured)
          : daemonDown(facts.docker, "the data root's filesystem", "数据根目录所在的文件系统"),
      );
    const clause = facts.docker?.dataRoot
      ? text("", "")
      : notRunning(
          configured?.dataRootSource === "daemon.json" ? configured.configFile : undefined,
        );
    const [path, fsType] = [quoted(root.path), quoted(root.fsType)];
    if (!root.fsType.startsWith("nfs"))
      return pass(
        text(
          `The data root ${path} is on ${fsType}${clause.en}.`,
          `数据根目录 ${path} 位于 ${fsType}${clause["zh-CN"]}。`,
        ),
        root,
      );
    return fail(
      text(
        `The data root ${path} is on ${fsType}${clause.en}: \`docker pull\` fails with "lchown <FILE>: operation not permitted".`,
        `数据根目录 ${path} 位于 ${fsType} 上${clause["zh-CN"]}：\`docker pull\` 会报错 "lchown <FILE>: operation not permitted"。`,
      ),
      text(
        'Put the data root outside NFS in ~/.config/docker/daemon.json: `{"data-root":"/somewhere-out-of-nfs"}`, then restart the daemon.',
        '在 `~/.config/docker/daemon.json` 中指定非 NFS 的 `data-root` 目录：`{"data-root":"/somewhere-out-of-nfs"}`，然后重启守护进程。',
      ),
      root,
    );
  },
};

const overrideFile = "~/.config/systemd/user/docker.service.d/override.conf";
const restart = "`systemctl --user daemon-reload && systemctl --user restart docker`";

export const networkDriver: Check = {
  id: "network_driver",
  severity: "info",
  scope: "user",
  evaluate: ({ facts }) => {
    const { driver, clause } = effectiveNetwork(facts);
    if (!driver) return unknown(noDriver(facts));
    const measured = facts.probe?.network;
    const rate =
      measured?.ok && measured.bytesPerSecond !== undefined ? measured.bytesPerSecond : undefined;
    const figure = rate === undefined ? "" : ` Measured: ${(rate / 1e6).toFixed(0)} MB/s.`;
    const figureZh = rate === undefined ? "" : `实测：${(rate / 1e6).toFixed(0)} MB/s。`;
    // The guide's table: slirp4netns and vpnkit have slow network throughput.
    if (driver !== "slirp4netns" && driver !== "vpnkit")
      return pass(
        text(
          `The network driver is ${quoted(driver)}${clause.en}.${figure}`,
          `网络驱动为 ${quoted(driver)}${clause["zh-CN"]}。${figureZh}`,
        ),
        { driver, measuredBytesPerSecond: rate },
      );
    return fail(
      text(
        `The network driver ${driver}${clause.en} is slow (rootlesskit's driver table).${figure}`,
        `网络驱动 ${driver}${clause["zh-CN"]} 的网络吞吐量慢（RootlessKit 驱动对比表）。${figureZh}`,
      ),
      text(
        driver === "vpnkit"
          ? "Install slirp4netns (v0.4.0 or newer): rootless Docker prefers it to VPNKit. Raising the MTU may also help."
          : `Raise the MTU (\`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520"\` in ${overrideFile}), or try pasta (\`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_NET=pasta"\` and \`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=implicit"\`), then ${restart}.`,
        driver === "vpnkit"
          ? "安装 slirp4netns（v0.4.0 或更高版本）可能会提高网络吞吐量。此外，更改 MTU 值也可能提高吞吐量。"
          : `更改 MTU 值可能提高吞吐量（在 ${overrideFile} 中添加 \`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520"\`），或者使用 pasta（\`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_NET=pasta"\` 和 \`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=implicit"\`），然后重启守护进程：${restart}。`,
      ),
      { driver, measuredBytesPerSecond: rate },
    );
  },
};

export const networkMtu: Check = {
  id: "network_mtu",
  severity: "info",
  scope: "user",
  evaluate: ({ facts }) => {
    const effective = effectiveNetwork(facts);
    const network = { ...effective, clause: effective.mtuClause ?? effective.clause };
    if (!network.driver) return unknown(noDriver(facts));
    if (network.driver !== "slirp4netns" && network.driver !== "pasta")
      return pass(
        text(
          `The MTU matters little for ${quoted(network.driver)}.`,
          `MTU 对 ${quoted(network.driver)} 影响不大。`,
        ),
      );
    if (network.mtu === undefined)
      return unknown(
        text(
          `the MTU (neither ${network.driver} nor rootlesskit has an \`--mtu\` flag)`,
          `MTU（${network.driver} 和 rootlesskit 都没有 \`--mtu\` 参数）`,
        ),
      );
    const here = probedHere(facts.probe?.network, network.mtu);
    const bench = mtuEvidence(network.driver);
    if (network.mtu >= 65520)
      return pass(
        text(
          `${network.driver} runs with MTU ${network.mtu}${network.clause.en}.${here.en}`,
          `${network.driver} 的 MTU 为 ${network.mtu}${network.clause["zh-CN"]}。${here["zh-CN"]}`,
        ),
        { mtu: network.mtu },
      );
    // Docker's script gives pasta MTU 1500 unless told otherwise (65520 only for slirp4netns).
    return fail(
      text(
        `${network.driver} runs with MTU ${network.mtu}${network.clause.en}; 65520 gives much more throughput.${here.en}${bench.en}`,
        `${network.driver} 的 MTU 为 ${network.mtu}${network.clause["zh-CN"]}；65520 可大幅提高吞吐量。${here["zh-CN"]}${bench["zh-CN"]}`,
      ),
      text(
        `Add to ${overrideFile}:\n[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520"\nthen ${restart}.${bench.en}`,
        `创建 ${overrideFile} 文件并添加以下内容：\n[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520"\n然后重启守护进程：${restart}。${bench["zh-CN"]}`,
      ),
      { mtu: network.mtu, driver: network.driver },
    );
  },
};

const sourceIpFix = text(
  `Use the slirp4netns port driver (\`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns"\` and \`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=slirp4netns"\`) or pasta with the implicit port driver (\`...NET=pasta\`, \`...PORT_DRIVER=implicit\`) in ${overrideFile}, then ${restart}.`,
  `使用 \`slirp4netns\` RootlessKit 端口驱动程序，或使用 \`pasta\` 网络驱动程序配合 \`implicit\` 端口驱动程序：在 ${overrideFile} 中添加相应的 Environment 行，然后重启守护进程：${restart}。`,
);

export const sourceIpPropagation: Check = {
  id: "source_ip_propagation",
  severity: "info",
  scope: "user",
  evaluate: ({ facts }) => {
    const measured = facts.probe?.port;
    if (measured?.sourceIpPropagated === true) {
      return pass(
        text(
          `Measured: the port probe's sink saw the client's own address ${quoted(measured.peer ?? "")}.`,
          `实测：端口探测的接收端看到了客户端自己的地址 ${quoted(measured.peer ?? "")}。`,
        ),
        { measured: true, peer: measured.peer },
      );
    }
    const info = facts.rootlesskit?.info;
    // Without rootlesskit: the port driver the user's docker.service would start.
    const configured = info ? undefined : effectiveNetwork(facts);
    const clause = configured?.portClause ?? text("", "");
    if (!info && measured?.sourceIpPropagated === undefined && !configured?.port)
      return unknown(
        facts.rootlesskit
          ? text(
              "the port driver (no rootlesskit API answered `GET /v1/info`)",
              "端口驱动（rootlesskit 的 API 没有响应 `GET /v1/info`）",
            )
          : noFacts("rootlesskit"),
      );
    const net = info?.networkDriver?.driver ?? configured?.driver;
    // pasta's implicit port driver has no ports API, so rootlesskit reports no port driver at all.
    const port =
      info?.portDriver?.driver ??
      (info && net === "pasta" ? "implicit" : undefined) ??
      configured?.port;
    // Loopback clients cannot judge these two: slirp4netns shows them as its gateway, pasta as the
    // namespace's own address, while both pass other hosts' addresses on (pasta: test/e2e/pasta.test.ts).
    if (measured?.sourceIpPropagated === false && port !== "slirp4netns" && port !== "implicit") {
      return fail(
        text(
          `Measured: the port probe's sink saw ${quoted(measured.peer ?? "")}, not the client's address: source IPs are not propagated (port driver ${port === undefined ? "unknown" : quoted(port)}).`,
          `实测：端口探测的接收端看到的是 ${quoted(measured.peer ?? "")}，而不是客户端地址：\`docker run -p\` 不传播源 IP 地址（端口驱动 ${port === undefined ? "未知" : quoted(port)}）。`,
        ),
        sourceIpFix,
        { measured: true, peer: measured.peer, port },
      );
    }
    if (!port)
      return unknown(
        text(
          "the port driver (rootlesskit's API did not answer `GET /v1/info`)",
          "端口驱动（rootlesskit 的 API 没有响应 `GET /v1/info`）",
        ),
      );
    if (port !== "builtin")
      return pass(
        text(
          `The ${quoted(port)} port driver${clause.en} propagates client addresses.`,
          `${quoted(port)} 端口驱动${clause["zh-CN"]}支持源 IP 传播。`,
        ),
        { port },
      );
    return fail(
      text(
        `The builtin port driver${clause.en} does not propagate source IP addresses: containers see rootlesskit's address, not the client's.`,
        `\`docker run -p\` 不传播源 IP 地址：默认的 \`builtin\` 端口驱动程序${clause["zh-CN"]}不支持源 IP 传播。`,
      ),
      sourceIpFix,
      { network: net, port },
    );
  },
};
