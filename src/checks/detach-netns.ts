import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckOf, Text } from "./verdict.js";
import { fail, noFacts, pass, text, unknown } from "./verdict.js";
import { quoted } from "./quoted.js";
import { shellQuote } from "./shell-quote.js";

/**
 * RootlessKit 2's `--detach-netns`: the child (dockerd) stays in the host's network namespace and
 * the containers' namespace is bind-mounted at `$STATE_DIR/netns` (rootlesskit docs/network.md).
 * Reads the rootlesskit, network and docker collectors' facts.
 */
type Reads = Pick<FactsByCollector, "rootlesskit" | "network" | "docker">;

/**
 * The first dockerd that supports the mode: moby 84aedb8 ("rootless: support detach-netns mode",
 * PR 47103) is first in the tag docker-v29.5.0-rc.1, released as Docker 29.5.0.
 */
export const detachNetnsSince = [29, 5, 0] as const;
const since = detachNetnsSince.join(".");

const overrideFile = "~/.config/systemd/user/docker.service.d/override.conf";
const restart = "`systemctl --user daemon-reload && systemctl --user restart docker`";

/** Whether detach-netns is on: what runs, else what the user's docker.service would start. */
function detachState(facts: Partial<Reads>) {
  const kit = facts.rootlesskit;
  if (!kit) return undefined;
  if (kit.up) return { on: kit.detachNetns === true, running: true, file: undefined };
  const file = facts.network?.configured?.detachNetns;
  return { on: file !== undefined, running: false, file };
}

/** `x.y.z` of a Docker version ("28.5.2+dfsg3", "29.5.0-rc.1"), as numbers. */
export function dockerVersion(version: string | undefined): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version ?? "");
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

function older(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** How to leave the mode, naming the file that turns it on when that is known. */
function leave(file: string | undefined): Text {
  const where = file === undefined ? overrideFile : quoted(file);
  return text(
    `remove \`--detach-netns\` from \`DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS\` in ${where} (with Docker 29.5 or newer, \`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_DETACH_NETNS=false"\` there turns it off), then run ${restart}`,
    `从 ${where} 的 \`DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS\` 中删除 \`--detach-netns\`（Docker 29.5 或更高版本也可在该文件中设置 \`Environment="DOCKERD_ROOTLESS_ROOTLESSKIT_DETACH_NETNS=false"\` 来关闭它），然后运行 ${restart}`,
  );
}

export const detachNetns: CheckOf<Reads> = {
  id: "detach_netns",
  severity: "info",
  scope: "user",
  evaluate: ({ facts }) => {
    const state = detachState(facts);
    if (!state) return unknown(noFacts("rootlesskit"));
    if (!state.on)
      return pass(
        state.running
          ? text(
              "rootlesskit runs without `--detach-netns`: dockerd and the containers share rootlesskit's network namespace.",
              "rootlesskit 未使用 `--detach-netns` 运行：dockerd 与容器共用 rootlesskit 的网络命名空间。",
            )
          : text(
              "rootlesskit is not running, and the user's docker.service passes no `--detach-netns`.",
              "rootlesskit 未运行，该用户的 docker.service 也没有传递 `--detach-netns`。",
            ),
        { detachNetns: false },
      );
    const dir = facts.rootlesskit?.stateDir?.path;
    const netns = dir === undefined ? "$ROOTLESSKIT_STATE_DIR/netns" : `${quoted(dir)}/netns`;
    const how = state.running
      ? text("rootlesskit runs with `--detach-netns`", "rootlesskit 以 `--detach-netns` 模式运行")
      : text(
          `The user's docker.service starts rootlesskit with \`--detach-netns\` (${quoted(state.file ?? "")})`,
          `该用户的 docker.service 以 \`--detach-netns\` 启动 rootlesskit（${quoted(state.file ?? "")}）`,
        );
    const missingFile =
      state.running && facts.rootlesskit?.netnsFile === false
        ? text(
            ` Yet the state dir holds no \`netns\` file, which rootlesskit makes in this mode.`,
            `然而状态目录中没有 rootlesskit 在此模式下创建的 \`netns\` 文件。`,
          )
        : text("", "");
    const fix = leave(state.file);
    return fail(
      text(
        `${how.en} (RootlessKit 2): dockerd runs in the host's network namespace, so \`docker pull\`, \`push\` and \`build\` use the host's network directly and \`docker run --net=host\` works, while the containers' network is the namespace bind-mounted at ${netns}, which only rootlesskit's mount namespace shows. The exporter reads that namespace's counters and runs its probe there. The mode needs dockerd ${since} or newer and cannot be combined with slirp4netns's sandbox (\`--slirp4netns-sandbox\`).${missingFile.en}`,
        `${how["zh-CN"]}（RootlessKit 2）：dockerd 运行在主机的网络命名空间中，因此 \`docker pull\`、\`push\` 和 \`build\` 直接使用主机网络，\`docker run --net=host\` 也可用；而容器的网络是绑定挂载在 ${netns} 的命名空间，只有 rootlesskit 的挂载命名空间能看到它。导出器读取该命名空间的计数器，并在其中运行探测。此模式需要 dockerd ${since} 或更高版本，且不能与 slirp4netns 的沙箱（\`--slirp4netns-sandbox\`）同时使用。${missingFile["zh-CN"]}`,
      ),
      text(
        `Nothing to do while it works. If a tool or container breaks in this mode, ${fix.en}.`,
        `运行正常时无需任何操作。如果某个工具或容器在此模式下出现问题，请${fix["zh-CN"]}。`,
      ),
      { detachNetns: true, running: state.running, ...(dir !== undefined && { stateDir: dir }) },
    );
  },
};

export const detachNetnsDockerd: CheckOf<Reads> = {
  id: "detach_netns_dockerd",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts }) => {
    const state = detachState(facts);
    if (!state) return unknown(noFacts("rootlesskit"));
    if (!state.on)
      return pass(
        text(
          "rootlesskit does not run, and is not configured to run, with `--detach-netns`.",
          "rootlesskit 没有以 `--detach-netns` 运行，也没有被配置为以该模式运行。",
        ),
      );
    const fromApi = facts.docker?.info?.version;
    const binary = facts.network?.dockerdBinary;
    const shown = fromApi ?? binary?.version;
    const version = dockerVersion(shown);
    if (!version || shown === undefined)
      return unknown(
        text(
          `the dockerd version (its API gives none, and ${binary ? `\`${shellQuote(binary.path)} --version\` gave none` : "no dockerd of root's is in systemd's PATH"})`,
          `dockerd 的版本（其 API 未给出版本，${binary ? `\`${shellQuote(binary.path)} --version\` 也未给出` : "systemd 的 PATH 中也没有属于 root 的 dockerd"}）`,
        ),
      );
    const source =
      fromApi !== undefined
        ? text("its API", "其 API")
        : text(
            `\`${binary?.path ?? "dockerd"} --version\``,
            `\`${binary?.path ?? "dockerd"} --version\``,
          );
    if (!older(version, detachNetnsSince))
      return pass(
        text(
          `dockerd ${quoted(shown)} (from ${source.en}) supports \`--detach-netns\` (since ${since}).`,
          `dockerd 的版本 ${quoted(shown)}（来自${source["zh-CN"]}）支持 \`--detach-netns\`（自 ${since} 起）。`,
        ),
        { version: shown },
      );
    const fix = leave(state.file);
    return fail(
      text(
        `dockerd ${quoted(shown)} (from ${source.en}) is older than ${since}, the first release that supports rootlesskit's \`--detach-netns\`: it stays in the host's network namespace, its iptables calls there are refused ("Permission denied (you must be root)") and it exits before its API answers.`,
        `dockerd 的版本 ${quoted(shown)}（来自${source["zh-CN"]}）早于 ${since}，而 ${since} 是第一个支持 rootlesskit \`--detach-netns\` 的版本：它停留在主机的网络命名空间中，在那里调用 iptables 会被拒绝（"Permission denied (you must be root)"），因此会在其 API 响应之前退出。`,
      ),
      text(
        `Either upgrade Docker to ${since} or newer, or ${fix.en}.`,
        `请将 Docker 升级到 ${since} 或更高版本，或者${fix["zh-CN"]}。`,
      ),
      { version: shown, since },
    );
  },
};
