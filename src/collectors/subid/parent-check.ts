import type { CheckOf } from "../../checks/verdict.js";
import { fail, pass, text } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { shellQuote } from "../../checks/shell-quote.js";
import { unknownWith } from "./checks.js";
import type { SubidFacts } from "./subid.js";

type Own = { readonly subid: SubidFacts };

/**
 * Nested user namespaces (LXD, LXC, systemd-nspawn --private-users, CI runners): the kernel takes
 * a child's uid_map only when every ID of it is mapped in the writer's namespace, so a range
 * outside the exporter's own uid_map makes newuidmap fail with "write to uid_map failed: Operation
 * not permitted" (EPERM from map_write(); docker/for-linux 1352, buildah 3775).
 */
export const subidParentMap: CheckOf<Own> = {
  id: "subid_parent_map",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const name = quoted(target.name);
    const answer = facts.subid?.answer;
    const uid = answer?.uid.outsideParent;
    const gid = answer?.gid.outsideParent;
    if (answer === undefined || uid === undefined || gid === undefined) {
      return unknownWith(
        text(
          `whether the user namespace the exporter runs in maps ${name}'s subordinate IDs`,
          `导出器所在的用户命名空间是否映射了 ${name} 的从属 ID`,
        ),
        answer?.uid.detail ?? answer?.gid.detail,
      );
    }
    const outside = { uid, gid };
    if (uid + gid === 0) {
      return pass(
        text(
          `The user namespace the exporter runs in maps all of ${name}'s subordinate IDs.`,
          `导出器所在的用户命名空间映射了 ${name} 的全部从属 ID。`,
        ),
        outside,
      );
    }
    const kinds = (["uid", "gid"] as const).filter((kind) => outside[kind] > 0);
    const en = kinds.map(
      (k) => `${outside[k]} ${k}s (it maps ${k}s ${quoted(answer[k].parentMap ?? "")} only)`,
    );
    const zh = kinds.map(
      (k) => `${outside[k]} 个 ${k}（该命名空间只映射 ${k} ${quoted(answer[k].parentMap ?? "")}）`,
    );
    const first = kinds[0] ?? "uid";
    return fail(
      text(
        `${name} has subordinate IDs outside the user namespace the exporter runs in: ${en.join(" and ")}; newuidmap and newgidmap fail with "write to ${first}_map failed: Operation not permitted".`,
        `${name} 有从属 ID 位于导出器所在的用户命名空间之外：${zh.join("，")}；newuidmap 和 newgidmap 会报错 "write to ${first}_map failed: Operation not permitted"。`,
      ),
      text(
        `This host is itself inside a user namespace (an LXD or LXC container, systemd-nspawn with --private-users, a CI runner): give that container an ID range wide enough to hold ${name}'s ranges (LXD: \`security.idmap.size\`; systemd-nspawn: \`--private-users=BASE:SIZE\`; the outer host's /etc/subuid and /etc/subgid for the container's owner), or move ${name}'s ranges into the IDs the container maps (\`sudo usermod --del-subuids ... --add-subuids FIRST-LAST ${shellQuote(target.name)}\`, and the same for subgids), then restart the daemon.`,
        `本主机本身位于一个用户命名空间中（LXD 或 LXC 容器、带 --private-users 的 systemd-nspawn、CI 运行器）：请为该容器分配足以容纳 ${name} 各范围的 ID 区间（LXD：\`security.idmap.size\`；systemd-nspawn：\`--private-users=BASE:SIZE\`；外层主机上容器所有者在 /etc/subuid 和 /etc/subgid 中的条目），或者把 ${name} 的范围移到容器已映射的 ID 之内（\`sudo usermod --del-subuids ... --add-subuids FIRST-LAST ${shellQuote(target.name)}\`，subgid 同理），然后重启守护进程。`,
      ),
      outside,
    );
  },
};
