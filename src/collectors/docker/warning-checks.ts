import type { CheckOf, Text, Verdict } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { daemonDown } from "../../checks/dockerd-text.js";
import type { DockerFacts } from "./docker.js";
import type { DockerWarnings, KnownWarning } from "./warnings.js";

/*
 * Checks on the `Warnings` of dockerd's `GET /info` that matter to a rootless daemon. A summary
 * names a warning by moby's own wording, never by what the user's daemon sent.
 */

type Own = { readonly docker: DockerFacts };

const restart = "`systemctl --user restart docker`";

/** The daemon's warnings, or why they are not known. */
function warningsOf(docker: DockerFacts | undefined): DockerWarnings | Verdict {
  if (!docker) return unknown(noFacts("docker"));
  if (!docker.info) return unknown(daemonDown(docker, "dockerd's warnings", "dockerd 的警告"));
  return (
    docker.info.warnings ??
    unknown(
      text(
        "dockerd's warnings (its `GET /info` has no `Warnings` list)",
        "dockerd 的警告（它的 `GET /info` 中没有 `Warnings` 列表）",
      ),
    )
  );
}

const isVerdict = (value: DockerWarnings | Verdict): value is Verdict => "state" in value;

/** A check that fails when one of `ids` is among the daemon's warnings. */
function warningCheck(
  id: string,
  severity: "critical" | "warning",
  ids: readonly KnownWarning[],
  passText: Text,
  failure: (docker: DockerFacts, found: readonly KnownWarning[], user: string) => Verdict,
): CheckOf<Own> {
  return {
    id,
    severity,
    scope: "user",
    evaluate: ({ facts, target }) => {
      const warnings = warningsOf(facts.docker);
      if (isVerdict(warnings)) return warnings;
      const found = ids.filter((w) => (warnings.byId[w] ?? 0) > 0);
      if (found.length === 0 || !facts.docker) return pass(passText, { total: warnings.total });
      return failure(facts.docker, found, quoted(target.name));
    },
  };
}

export const dockerCgroups = warningCheck(
  "docker_cgroups",
  "warning",
  ["rootless_no_cgroups"],
  text(
    "dockerd's `GET /info` does not warn that it runs without cgroups.",
    "dockerd 的 `GET /info` 没有警告它在没有 cgroup 的情况下运行。",
  ),
  (docker) =>
    fail(
      text(
        'dockerd runs without cgroups (its `GET /info` warns "Running in rootless-mode without cgroups"): `docker run --memory`, `--cpus` and `--pids-limit` are not applied.',
        'dockerd 在没有 cgroup 的情况下运行（它的 `GET /info` 警告 "Running in rootless-mode without cgroups"）：`docker run --memory`、`--cpus` 和 `--pids-limit` 不会生效。',
      ),
      docker.info?.cgroupVersion === "1"
        ? text(
            `Rootless cgroups need cgroup v2: add \`systemd.unified_cgroup_hierarchy=1\` to GRUB_CMDLINE_LINUX in /etc/default/grub, run \`sudo update-grub\`, reboot, then ${restart}.`,
            `rootless 模式的 cgroup 需要 cgroup v2：在 /etc/default/grub 的 GRUB_CMDLINE_LINUX 中加入 \`systemd.unified_cgroup_hierarchy=1\`，运行 \`sudo update-grub\` 并重启主机，然后运行 ${restart}。`,
          )
        : text(
            `Run the daemon as a systemd user service, which gives it the systemd cgroup driver: \`dockerd-rootless-setuptool.sh install\`, then \`systemctl --user enable --now docker\` from a login through pam_systemd (not \`sudo -iu\`); do not set \`native.cgroupdriver=cgroupfs\` in ~/.config/docker/daemon.json.`,
            `通过 \`systemd user\` 服务运行守护进程，使其使用 \`systemd\` 的 cgroup 驱动：运行 \`dockerd-rootless-setuptool.sh install\`，然后在经由 pam_systemd 的登录会话中（而不是 \`sudo -iu\`）运行 \`systemctl --user enable --now docker\`；不要在 ~/.config/docker/daemon.json 中设置 \`native.cgroupdriver=cgroupfs\`。`,
          ),
      { warning: "rootless_no_cgroups", cgroupVersion: docker.info?.cgroupVersion },
    ),
);

/** The cgroup v2 controller each limit warning lacks. */
const controllerOf: Readonly<Partial<Record<KnownWarning, string>>> = {
  no_memory_limit: "memory",
  no_cpu_cfs_quota: "cpu",
  no_cpu_cfs_period: "cpu",
  no_cpu_shares: "cpu",
  no_cpuset: "cpuset",
  no_io_weight: "io",
  no_io_throttle: "io",
};

export const dockerResourceLimits = warningCheck(
  "docker_resource_limits",
  "warning",
  Object.keys(controllerOf) as KnownWarning[],
  text(
    "dockerd's `GET /info` warns of no missing memory, cpu, cpuset or io limit support.",
    "dockerd 的 `GET /info` 没有警告缺少 memory、cpu、cpuset 或 io 限制支持。",
  ),
  (_docker, found) => {
    const names = [...new Set(found.map((w) => controllerOf[w] ?? ""))];
    const controllers = names.join(", ");
    const controllersZh = names.join("、");
    return fail(
      text(
        `dockerd cannot apply limits through the ${controllers} controllers (its \`GET /info\` warns they are not supported): \`docker run\` limits on them fail or are ignored.`,
        `dockerd 无法通过 ${controllersZh} 控制器施加限制（它的 \`GET /info\` 警告不支持这些限制）：\`docker run\` 中针对它们的限制会失败或被忽略。`,
      ),
      text(
        `Delegate the controllers to user sessions: write /etc/systemd/system/user@.service.d/delegate.conf with\n[Service]\nDelegate=cpu cpuset io memory pids\nthen run \`sudo systemctl daemon-reload\`, log in again and run ${restart}.`,
        `把控制器委派给用户会话：创建 /etc/systemd/system/user@.service.d/delegate.conf，内容为\n[Service]\nDelegate=cpu cpuset io memory pids\n然后运行 \`sudo systemctl daemon-reload\`，重新登录并运行 ${restart}。`,
      ),
      { warnings: found, controllers },
    );
  },
);

export const dockerIpv4Forwarding = warningCheck(
  "docker_ipv4_forwarding",
  "warning",
  ["ipv4_forwarding_disabled"],
  text(
    "dockerd's `GET /info` does not warn that IPv4 forwarding is disabled.",
    "dockerd 的 `GET /info` 没有警告 IPv4 转发已禁用。",
  ),
  () =>
    fail(
      text(
        'dockerd warns "IPv4 forwarding is disabled" in its network namespace: containers on its bridge networks cannot reach beyond the host.',
        'dockerd 在其网络命名空间中警告 "IPv4 forwarding is disabled"：其桥接网络中的容器无法访问主机以外的网络。',
      ),
      text(
        `dockerd enables forwarding in rootlesskit's namespace itself unless told not to: remove \`"ip-forward": false\` from ~/.config/docker/daemon.json (or \`--ip-forward=false\` from the daemon's arguments), then ${restart}.`,
        `除非被禁止，dockerd 会自行在 rootlesskit 的命名空间中启用转发：从 ~/.config/docker/daemon.json 中删除 \`"ip-forward": false\`（或从守护进程参数中删除 \`--ip-forward=false\`），然后运行 ${restart}。`,
      ),
      { warning: "ipv4_forwarding_disabled" },
    ),
);

export const dockerApiTls = warningCheck(
  "docker_api_tls",
  "critical",
  ["api_without_tls"],
  text(
    "dockerd's `GET /info` does not warn of a TCP API without TLS verification.",
    "dockerd 的 `GET /info` 没有警告其 `TCP API` 未经 TLS 验证。",
  ),
  (_docker, _found, user) =>
    fail(
      text(
        `dockerd serves its API on TCP without TLS client verification (its \`GET /info\` warns "API is accessible on ..."): anyone who reaches the port runs containers as ${user}.`,
        `dockerd 在 TCP 上提供 API 且未进行 TLS 客户端验证（它的 \`GET /info\` 警告 "API is accessible on ..."）：任何能访问该端口的人都能以 ${user} 的身份运行容器。`,
      ),
      text(
        `Remove the \`tcp://\` address from the daemon's hosts (\`-H\` in the unit's ExecStart, or \`hosts\` in ~/.config/docker/daemon.json) and use the unix socket or \`ssh://\`; where TCP is needed, add \`--tlsverify --tlscacert=ca.pem --tlscert=server-cert.pem --tlskey=server-key.pem\` as the rootless guide's "Expose Docker API socket through TCP" shows, then ${restart}.`,
        `从守护进程的监听地址中删除 \`tcp://\` 地址（单元 ExecStart 中的 \`-H\`，或 ~/.config/docker/daemon.json 中的 \`hosts\`），改用 unix 套接字或 \`ssh://\`；确需 TCP 时，按 rootless 指南 "Expose Docker API socket through TCP" 一节加上 \`--tlsverify --tlscacert=ca.pem --tlscert=server-cert.pem --tlskey=server-key.pem\`，然后运行 ${restart}。`,
      ),
      { warning: "api_without_tls" },
    ),
);
