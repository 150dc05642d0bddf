import type { CheckOf } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { reasonText } from "../../checks/reasons.js";
import { shellQuote } from "../../checks/shell-quote.js";
import { configUnusable, daemonDown, notRunning, startFix } from "../../checks/dockerd-text.js";
import type { DockerFacts } from "./docker.js";

type Own = { readonly docker: DockerFacts };

export const xdgRuntimeDir: CheckOf<Own> = {
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

export const dockerdRunning: CheckOf<Own> = {
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

export const dataRootNfs: CheckOf<Own> = {
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
