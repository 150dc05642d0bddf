import type { ConfiguredDaemon } from "../collectors/docker/docker-config.js";
import type { DockerFacts } from "../collectors/docker/docker.js";
import type { Text } from "./verdict.js";
import { noFacts, text } from "./verdict.js";
import { quoted } from "./quoted.js";

/** Texts about dockerd that its own checks and the checks across collectors share. */

export /** What only a running daemon's `GET /info` can say, and why it is missing. */
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

export /** ~/.config/docker/daemon.json exists but was not used: say why, never its content. */
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

export /** Where a driver or data root of a dockerd that is not running comes from, as a clause. */
function notRunning(source: string | undefined): Text {
  const from = source === undefined ? undefined : quoted(source);
  return text(
    ` (dockerd is not running; from ${from ?? "the defaults"})`,
    `（dockerd 未运行；依据：${from ?? "默认值"}）`,
  );
}

export const startFix = text(
  "Start it: `systemctl --user start docker` (or `dockerd-rootless.sh` where there is no systemd), and see `journalctl --user -u docker` for why it is down.",
  "启动它：`systemctl --user start docker`（没有 systemd 时运行 `dockerd-rootless.sh`），并查看 `journalctl --user -u docker` 了解其停止原因。",
);
