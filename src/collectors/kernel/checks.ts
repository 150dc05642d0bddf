import type { CheckOf, Text } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { reasonsText } from "../../checks/reasons.js";
import type { KernelFacts } from "./kernel.js";

type Own = { readonly kernel: KernelFacts };

/** The host's kernel: user namespaces, AppArmor, idmap helpers, iptables modules, ports, ping. */

const sysctlFix = (setting: string) =>
  text(
    `Add \`${setting}\` to /etc/sysctl.conf (or a file in /etc/sysctl.d) and run \`sudo sysctl --system\`.`,
    `将 \`${setting}\` 添加到 \`/etc/sysctl.conf\`（或 \`/etc/sysctl.d\`）并运行 \`sudo sysctl --system\`。`,
  );

export const userNsClone: CheckOf<Own> = {
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

export const maxUserNamespaces: CheckOf<Own> = {
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

export const apparmorUserNs: CheckOf<Own> = {
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

export const idmapHelpers: CheckOf<Own> = {
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
