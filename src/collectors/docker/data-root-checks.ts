import type { CheckOf, Severity } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { reasonText } from "../../checks/reasons.js";
import { shellQuote } from "../../checks/shell-quote.js";
import { daemonDown } from "../../checks/dockerd-text.js";
import type { DockerFacts } from "./docker.js";

type Own = { readonly docker: DockerFacts };

/** 1.5 GiB, 812 MiB: binary units, one decimal. */
export function bytesText(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) [value, unit] = [value / 1024, unit + 1];
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

const percent = (fraction: number): string => `${Math.floor(fraction * 1000) / 10}%`;

/** Both checks, at their own threshold: free bytes or free inodes under it fail. */
function spaceCheck(
  id: string,
  severity: Severity,
  threshold: (t: { warningRatio: number; criticalRatio: number }) => number,
  flag: string,
): CheckOf<Own> {
  return {
    id,
    severity,
    scope: "user",
    evaluate: ({ facts, target }) => {
      const docker = facts.docker;
      if (!docker) return unknown(noFacts("docker"));
      const usage = docker.dataRootUsage;
      if (!usage)
        return unknown(daemonDown(docker, "the data root's free space", "数据根目录的剩余空间"));
      const path = quoted(usage.path);
      if ("unverified" in usage) {
        const why = reasonText(usage.unverified);
        return unknown(
          text(
            `the data root ${path}, which could not be measured as the user's directory (${why.en})`,
            `数据根目录 ${path}，无法作为该用户的目录进行测量（${why["zh-CN"]}）`,
          ),
        );
      }
      const ratio = threshold(usage.thresholds);
      const bytes = usage.sizeBytes > 0 ? usage.freeBytes / usage.sizeBytes : undefined;
      const inodes =
        usage.inodes && usage.freeInodes !== undefined
          ? usage.freeInodes / usage.inodes
          : undefined;
      // A filesystem that counts neither blocks nor inodes (cgroup2, proc: a data root the user's
      // daemon names in a delegated cgroup) has no free fraction to judge: unknown, not "0% free".
      if (bytes === undefined && inodes === undefined)
        return unknown(
          text(
            `the free space of the data root ${path}, whose ${quoted(usage.fsName)} filesystem counts neither blocks nor inodes`,
            `数据根目录 ${path} 的剩余空间（其所在的 ${quoted(usage.fsName)} 文件系统既不统计块也不统计 inode）`,
          ),
        );
      const measured = {
        path: usage.path,
        freeBytes: usage.freeBytes,
        sizeBytes: usage.sizeBytes,
        ...(usage.inodes !== undefined && { inodes: usage.inodes, freeInodes: usage.freeInodes }),
        threshold: ratio,
      };
      const space = `${bytesText(usage.freeBytes)} of ${bytesText(usage.sizeBytes)} free (${percent(bytes ?? 0)})`;
      const spaceZh = `剩余 ${bytesText(usage.freeBytes)}，共 ${bytesText(usage.sizeBytes)}（${percent(bytes ?? 0)}）`;
      const inodeText =
        inodes === undefined
          ? text("", "")
          : text(
              ` and ${usage.freeInodes} of ${usage.inodes} inodes free (${percent(inodes)})`,
              `，剩余 inode ${usage.freeInodes} 个，共 ${usage.inodes} 个（${percent(inodes)}）`,
            );
      const low =
        (bytes !== undefined && bytes < ratio) || (inodes !== undefined && inodes < ratio);
      if (!low) {
        const off = ratio === 0;
        return pass(
          off
            ? text(
                `The data root ${path} has ${space}${inodeText.en}; this check is off (--${flag}=0).`,
                `数据根目录 ${path} ${spaceZh}${inodeText["zh-CN"]}；此检查已关闭（--${flag}=0）。`,
              )
            : text(
                `The data root ${path} has ${space}${inodeText.en}, above the ${percent(ratio)} threshold.`,
                `数据根目录 ${path} ${spaceZh}${inodeText["zh-CN"]}，高于 ${percent(ratio)} 的阈值。`,
              ),
          measured,
        );
      }
      const user = shellQuote(target.name);
      return fail(
        text(
          `The data root ${path} has ${space}${inodeText.en}, under the ${percent(ratio)} threshold: pulls, builds and container writes soon fail with "no space left on device".`,
          `数据根目录 ${path} ${spaceZh}${inodeText["zh-CN"]}，低于 ${percent(ratio)} 的阈值：拉取镜像、构建和容器写入很快会因 "no space left on device" 而失败。`,
        ),
        text(
          `As ${user}, see what takes the space with \`docker system df\` and \`df -h ${shellQuote(usage.path)}\`, then free it: \`docker system prune\` (with \`--all --volumes\` unused images and volumes too) and \`docker builder prune\`. Or move the data root to a larger filesystem: \`{"data-root":"/larger/fs/docker"}\` in ~/.config/docker/daemon.json, then \`systemctl --user restart docker\`.`,
          `以 ${user} 身份运行 \`docker system df\` 和 \`df -h ${shellQuote(usage.path)}\` 查看空间占用，然后释放空间：\`docker system prune\`（加上 \`--all --volumes\` 会同时删除未使用的镜像和卷）以及 \`docker builder prune\`。也可以把数据根目录迁移到更大的文件系统：在 ~/.config/docker/daemon.json 中写入 \`{"data-root":"/larger/fs/docker"}\`，然后运行 \`systemctl --user restart docker\`。`,
        ),
        measured,
      );
    },
  };
}

/** docker/for-linux 1300: a full data root fails pulls and builds with ENOSPC. */
export const dataRootSpace = spaceCheck(
  "data_root_space",
  "warning",
  (t) => t.warningRatio,
  "check.data-root-free-warning-ratio",
);

export const dataRootFull = spaceCheck(
  "data_root_full",
  "critical",
  (t) => t.criticalRatio,
  "check.data-root-free-critical-ratio",
);
