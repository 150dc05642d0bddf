import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckOf, Text } from "./verdict.js";
import { fail, noFacts, pass, text, unknown } from "./verdict.js";
import { quoted } from "./quoted.js";
import type { ScriptDefault } from "../collectors/network/network-config.js";
import { mtuEvidence, probedHere } from "./mtu-evidence.js";

/** The rootless network: reads the network, probe and rootlesskit collectors' facts. */
type Reads = Pick<FactsByCollector, "network" | "probe" | "rootlesskit">;

/** The network driver comes from rootlesskit (API, process, `--net`), else from the user's unit. */
function noDriver(facts: Partial<Reads>): Text {
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
function effectiveNetwork(facts: Partial<Reads>) {
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

const overrideFile = "~/.config/systemd/user/docker.service.d/override.conf";
const restart = "`systemctl --user daemon-reload && systemctl --user restart docker`";

export const networkDriver: CheckOf<Reads> = {
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

export const networkMtu: CheckOf<Reads> = {
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

export const sourceIpPropagation: CheckOf<Reads> = {
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
