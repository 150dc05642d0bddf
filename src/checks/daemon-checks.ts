import type { Check } from "./finding.js";
import { fail, pass, text, unknown } from "./finding.js";
import { shellQuote } from "./shell-quote.js";

/** The running rootless daemon: rootlesskit, dockerd, storage, network (the guide's driver table). */

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
    if (!kit) return unknown("rootlesskit");
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
    if (!docker) return unknown("dockerd");
    if (docker.dockerdUp && docker.apiUp)
      return pass(
        text(
          `dockerd runs and answers on ${docker.socket}.`,
          `dockerd 正在运行，并在 ${docker.socket} 上响应。`,
        ),
      );
    const why = docker.dockerdUp
      ? text(
          `dockerd runs but its API on ${docker.socket} does not answer (${docker.apiError ?? "no answer"}).`,
          `dockerd 正在运行，但 ${docker.socket} 上的 API 没有响应（${docker.apiError ?? "无响应"}）。`,
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
    if (!kit) return unknown("rootlesskit");
    if (kit.stateDirStale === undefined) {
      return kit.up
        ? unknown("rootlesskit's state dir")
        : pass(
            text("No rootlesskit state dir is left behind.", "没有遗留的 rootlesskit 状态目录。"),
          );
    }
    const dir = kit.stateDir?.path ?? "";
    if (!kit.stateDirStale)
      return pass(
        text(`${dir} belongs to the running rootlesskit.`, `${dir} 属于正在运行的 rootlesskit。`),
        { dir },
      );
    return fail(
      text(
        `${dir} was left by a rootlesskit that died (${kit.staleReason ?? "dead child"}).`,
        `${dir} 是已退出的 rootlesskit 遗留的（${kit.staleReason ?? "子进程已退出"}）。`,
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
    const driver = facts.docker?.info?.storageDriver;
    if (!driver) return unknown("the daemon's storage driver");
    const verdicts = facts.kernel?.storageDrivers as
      Record<string, { ok: boolean; reason: string } | undefined> | undefined;
    if (!verdicts) return unknown("the kernel");
    const verdict = verdicts[driver];
    if (verdict?.ok)
      return pass(
        text(
          `${driver} works rootless here (${verdict.reason}).`,
          `${driver} 可在此以 rootless 模式运行（${verdict.reason}）。`,
        ),
        { driver },
      );
    if (!verdict && ["overlay2", "fuse-overlayfs", "btrfs", "vfs"].includes(driver))
      return unknown(`support for ${driver}`);
    const why =
      verdict?.reason ?? "rootless mode supports only overlay2, fuse-overlayfs, btrfs and vfs";
    return fail(
      text(
        `The daemon uses ${driver}, which cannot work rootless here: ${why}.`,
        `守护进程使用 ${driver}，它无法在此以 rootless 模式工作：${why}。`,
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
    const root = facts.docker?.dataRoot;
    if (!root) return unknown("the data root's filesystem");
    if (!root.fsType.startsWith("nfs"))
      return pass(
        text(
          `The data root ${root.path} is on ${root.fsType}.`,
          `数据根目录 ${root.path} 位于 ${root.fsType}。`,
        ),
        root,
      );
    return fail(
      text(
        `The data root ${root.path} is on ${root.fsType}: \`docker pull\` fails with "lchown <FILE>: operation not permitted".`,
        `数据根目录 ${root.path} 位于 ${root.fsType} 上：\`docker pull\` 会报错 "lchown <FILE>: operation not permitted"。`,
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
    const driver = facts.network?.driver;
    if (!driver) return unknown("the network driver");
    const measured = facts.probe?.network;
    const rate =
      measured?.ok && measured.bytesPerSecond !== undefined ? measured.bytesPerSecond : undefined;
    const figure = rate === undefined ? "" : ` Measured: ${(rate / 1e6).toFixed(0)} MB/s.`;
    const figureZh = rate === undefined ? "" : `实测：${(rate / 1e6).toFixed(0)} MB/s。`;
    // The guide's table: slirp4netns and vpnkit have slow network throughput.
    if (driver !== "slirp4netns" && driver !== "vpnkit")
      return pass(
        text(`The network driver is ${driver}.${figure}`, `网络驱动为 ${driver}。${figureZh}`),
        { driver, measuredBytesPerSecond: rate },
      );
    return fail(
      text(
        `The network driver ${driver} is slow (rootlesskit's driver table).${figure}`,
        `网络驱动 ${driver} 的网络吞吐量慢（RootlessKit 驱动对比表）。${figureZh}`,
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
    const network = facts.network;
    if (!network?.driver) return unknown("the network driver");
    if (network.driver !== "slirp4netns" && network.driver !== "pasta")
      return pass(
        text(
          `The MTU matters little for ${network.driver}.`,
          `MTU 对 ${network.driver} 影响不大。`,
        ),
      );
    if (network.mtu === undefined) return unknown("the MTU");
    if (network.mtu >= 65520)
      return pass(
        text(
          `${network.driver} runs with MTU ${network.mtu}.`,
          `${network.driver} 的 MTU 为 ${network.mtu}。`,
        ),
        { mtu: network.mtu },
      );
    return fail(
      text(
        `${network.driver} runs with MTU ${network.mtu}; 65520 gives much more throughput.`,
        `${network.driver} 的 MTU 为 ${network.mtu}；65520 可大幅提高吞吐量。`,
      ),
      text(
        `Add to ${overrideFile}:\n[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520"\nthen ${restart}.`,
        `创建 ${overrideFile} 文件并添加以下内容：\n[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520"\n然后重启守护进程：${restart}。`,
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
          `Measured: the port probe's sink saw the client's own address ${measured.peer}.`,
          `实测：端口探测的接收端看到了客户端自己的地址 ${measured.peer}。`,
        ),
        { measured: true, peer: measured.peer },
      );
    }
    const info = facts.rootlesskit?.info;
    if (!info && measured?.sourceIpPropagated === undefined)
      return unknown("rootlesskit's drivers");
    const net = info?.networkDriver?.driver;
    // pasta's implicit port driver has no ports API, so rootlesskit reports no port driver at all.
    const port = info?.portDriver?.driver ?? (net === "pasta" ? "implicit" : undefined);
    // slirp4netns shows loopback clients as its gateway, so a loopback probe cannot judge it.
    if (measured?.sourceIpPropagated === false && port !== "slirp4netns") {
      return fail(
        text(
          `Measured: the port probe's sink saw ${measured.peer}, not the client's address: source IPs are not propagated (port driver ${port ?? "unknown"}).`,
          `实测：端口探测的接收端看到的是 ${measured.peer}，而不是客户端地址：\`docker run -p\` 不传播源 IP 地址（端口驱动 ${port ?? "未知"}）。`,
        ),
        sourceIpFix,
        { measured: true, peer: measured.peer, port },
      );
    }
    if (!port) return unknown("the port driver");
    if (port !== "builtin")
      return pass(
        text(
          `The ${port} port driver propagates client addresses.`,
          `${port} 端口驱动支持源 IP 传播。`,
        ),
        { port },
      );
    return fail(
      text(
        "The builtin port driver does not propagate source IP addresses: containers see rootlesskit's address, not the client's.",
        "`docker run -p` 不传播源 IP 地址：默认的 `builtin` 端口驱动程序不支持源 IP 传播。",
      ),
      sourceIpFix,
      { network: net, port },
    );
  },
};
