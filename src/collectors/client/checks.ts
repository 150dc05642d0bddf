import type { CheckOf, Text } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { shellQuote } from "../../checks/shell-quote.js";
import type { ClientEndpoint, ClientFacts } from "./client.js";
import type { RootfulSocket } from "./rootful.js";

type Own = { readonly client: ClientFacts };

const disableRootful = "`sudo systemctl disable --now docker.service docker.socket`";

export const rootfulDockerd: CheckOf<Own> = {
  id: "rootful_dockerd",
  severity: "info",
  scope: "user",
  evaluate: ({ facts }) => {
    const client = facts.client;
    if (!client) return unknown(noFacts("client"));
    const pids = client.rootfulDockerdPids;
    if (!pids)
      return unknown(
        text(
          "root's processes (hidden from the exporter: /proc is mounted with hidepid and the exporter is not root)",
          "root 的进程（对导出器不可见：/proc 以 hidepid 方式挂载，且导出器不是以 root 身份运行）",
        ),
      );
    if (pids.length === 0)
      return pass(
        text(
          "No dockerd of root's runs on this host: only rootless daemons.",
          "此主机上没有以 root 身份运行的 dockerd，只有 rootless 守护进程。",
        ),
      );
    const list = pids.slice(0, 8).join(", ");
    return fail(
      text(
        `A rootful dockerd runs beside the rootless one (pid ${list}): a docker CLI left at the default context talks to it, and \`dockerd-rootless-setuptool.sh install\` refuses to run while its socket is writable.`,
        `此主机上有以 root 身份运行的 dockerd（pid ${list}）与 rootless 守护进程并存：使用默认上下文的 docker 客户端会连接到它；只要它的套接字可写，\`dockerd-rootless-setuptool.sh install\` 就会拒绝安装。`,
      ),
      text(
        `If the rootful daemon is not needed, stop and disable it: ${disableRootful}. If it is, point each user's client at their own daemon with \`docker context use rootless\`.`,
        `如果不需要 root 模式的守护进程，请停止并禁用它：${disableRootful}。如果需要保留它，请让每个用户的客户端使用自己的守护进程：\`docker context use rootless\`。`,
      ),
      { pids },
    );
  },
};

const octal = (mode: number | undefined): string => (mode ?? 0).toString(8).padStart(4, "0");

function describeSocket(socket: RootfulSocket): Text {
  const mode = octal(socket.mode);
  return text(
    `${socket.path} (mode ${mode}, owner uid ${socket.ownerUid}, group gid ${socket.groupGid})`,
    `${socket.path}（权限 ${mode}，属主 uid ${socket.ownerUid}，属组 gid ${socket.groupGid}）`,
  );
}

export const rootfulSocketWritable: CheckOf<Own> = {
  id: "rootful_socket_access",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts, target }) => {
    const socket = facts.client?.rootfulSocket;
    if (!socket) return unknown(noFacts("client"));
    const name = quoted(target.name);
    if (socket.writable === undefined)
      return unknown(
        text(`${socket.path}, which could not be looked at`, `${socket.path}（无法查看该路径）`),
      );
    if (socket.state === "missing")
      return pass(
        text(
          `There is no rootful Docker socket at ${socket.path}.`,
          `${socket.path} 处没有 root 模式的 Docker 套接字。`,
        ),
        { path: socket.path },
      );
    const described = describeSocket(socket);
    const facts_ = {
      path: socket.path,
      mode: octal(socket.mode),
      owner: socket.ownerUid,
      group: socket.groupGid,
      ...(socket.access && { access: socket.access }),
      ...(socket.closedDir !== undefined && { closedDir: socket.closedDir }),
    };
    if (!socket.writable)
      return pass(
        text(
          `${name} cannot connect to the rootful Docker socket ${described.en}.`,
          `${name} 无法连接 root 模式的 Docker 套接字 ${described["zh-CN"]}。`,
        ),
        facts_,
      );
    const user = shellQuote(target.name);
    const fix =
      socket.access === "group"
        ? text(
            `Take ${name} out of the socket's group (gid ${socket.groupGid}): \`sudo gpasswd -d ${user} "$(getent group ${socket.groupGid} | cut -d: -f1)"\`, then log in again. If the rootful daemon is not needed at all: ${disableRootful}.`,
            `将 ${name} 移出该套接字的属组（gid ${socket.groupGid}）：\`sudo gpasswd -d ${user} "$(getent group ${socket.groupGid} | cut -d: -f1)"\`，然后重新登录。如果完全不需要 root 模式的守护进程：${disableRootful}。`,
          )
        : text(
            `Close the socket to other users (\`sudo chown root:root ${socket.path} && sudo chmod 0660 ${socket.path}\`, and \`SocketMode=0660\` in docker.socket so that it stays so), or, if the rootful daemon is not needed: ${disableRootful}.`,
            `请关闭其他用户对该套接字的访问（\`sudo chown root:root ${socket.path} && sudo chmod 0660 ${socket.path}\`，并在 docker.socket 中设置 \`SocketMode=0660\` 以保持该设置）；如果不需要 root 模式的守护进程：${disableRootful}。`,
          );
    return fail(
      text(
        `${name} can write the rootful Docker socket ${described.en}, through the socket's ${socket.access} permission bits: that daemon is root on this host, a client at the default context uses it, and \`dockerd-rootless-setuptool.sh\` refuses to install beside it.`,
        `${name} 可以通过该套接字的 ${socket.access} 权限位写入 root 模式的 Docker 套接字 ${described["zh-CN"]}：该守护进程在此主机上等同于 root，使用默认上下文的客户端会连接到它，\`dockerd-rootless-setuptool.sh\` 也会拒绝在其旁边安装。`,
      ),
      fix,
      facts_,
    );
  },
};

const sourceText = (endpoint: ClientEndpoint): Text =>
  endpoint.source === "context"
    ? text(
        `The current context ${quoted(endpoint.context ?? "")} (${quoted(endpoint.file)})`,
        `当前上下文 ${quoted(endpoint.context ?? "")}（${quoted(endpoint.file)}）`,
      )
    : text(
        `DOCKER_HOST in the environment of docker.service (set in ${quoted(endpoint.file)})`,
        `docker.service 环境中的 DOCKER_HOST（${quoted(endpoint.file)}）`,
      );

function endpointFix(endpoint: ClientEndpoint, rootless: string): Text {
  const su =
    endpoint.kind === "unix_root_runtime"
      ? text(
          " /run/user/0 is root's runtime directory: XDG_RUNTIME_DIR was kept through `su` or `sudo`; log in as the user instead (`ssh`, `machinectl shell`).",
          "/run/user/0 是 root 的运行时目录：XDG_RUNTIME_DIR 是经由 `su` 或 `sudo` 保留下来的；请改为以该用户身份直接登录（`ssh`、`machinectl shell`）。",
        )
      : text("", "");
  if (endpoint.source === "context")
    return text(
      `Run \`docker context use rootless\` (made by \`dockerd-rootless-setuptool.sh install\`; else \`docker context create rootless --docker host=unix://${shellQuote(rootless)}\` first).${su.en}`,
      `运行 \`docker context use rootless\`（该上下文由 \`dockerd-rootless-setuptool.sh install\` 创建；如果不存在，请先运行 \`docker context create rootless --docker host=unix://${shellQuote(rootless)}\`）。${su["zh-CN"]}`,
    );
  return text(
    `Remove the DOCKER_HOST assignment from ${shellQuote(endpoint.file)} or set it to \`unix://%t/docker.sock\`, then run \`systemctl --user daemon-reload\`; in the shell, \`unset DOCKER_HOST\` or \`export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock\`.${su.en}`,
    `请从 ${shellQuote(endpoint.file)} 中删除 DOCKER_HOST 赋值，或将其设为 \`unix://%t/docker.sock\`，然后运行 \`systemctl --user daemon-reload\`；在 shell 中运行 \`unset DOCKER_HOST\` 或 \`export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock\`。${su["zh-CN"]}`,
  );
}

export const clientEndpoint: CheckOf<Own> = {
  id: "client_endpoint",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) => {
    const client = facts.client;
    if (!client) return unknown(noFacts("client"));
    const rootless = client.rootlessSocket;
    const want = `unix://${rootless}`;
    const wrong = client.endpoints.filter((e) => e.kind !== "unix_rootless");
    const context = client.context;
    if (wrong.length > 0) {
      const lines = wrong.map((e) => {
        const where = sourceText(e);
        return text(
          `${where.en} points at ${quoted(e.host)} (${e.kind}), not the rootless socket ${want}.`,
          `${where["zh-CN"]} 指向 ${quoted(e.host)}（${e.kind}），而不是 rootless 套接字 ${want}。`,
        );
      });
      const fixes = wrong.map((e) => endpointFix(e, rootless));
      return fail(
        text(lines.map((l) => l.en).join(" "), lines.map((l) => l["zh-CN"]).join("")),
        text(fixes.map((f) => f.en).join(" "), fixes.map((f) => f["zh-CN"]).join("")),
        { endpoints: wrong.map((e) => ({ source: e.source, kind: e.kind, file: e.file })) },
      );
    }
    if (context.state === "not_found" || context.state === "invalid") {
      const what =
        context.state === "not_found"
          ? text(
              `The current context ${quoted(context.name)} has no meta.json: the docker CLI fails with "context not found".`,
              `当前上下文 ${quoted(context.name)} 没有 meta.json：docker 客户端会报错 "context not found"。`,
            )
          : text(
              `The current context in ${quoted(context.file)} is not one the docker CLI can use (an invalid name, or no docker endpoint).`,
              `${quoted(context.file)} 中的当前上下文无法被 docker 客户端使用（名称无效，或没有 docker 端点）。`,
            );
      return fail(
        what,
        text(
          `Run \`docker context use rootless\` (or \`docker context use default\` with \`export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock\`).`,
          `运行 \`docker context use rootless\`（或运行 \`docker context use default\` 并设置 \`export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock\`）。`,
        ),
        { context: context.state },
      );
    }
    if (context.state === "refused")
      return unknown(
        text(
          `the current context: ${quoted(context.file)} was not read (${context.reason})`,
          `当前上下文：未读取 ${quoted(context.file)}（${context.reason}）`,
        ),
      );
    const refused = client.unitRefused ?? [];
    if (refused.length > 0 && !client.endpoints.some((e) => e.source === "docker_host_unit")) {
      const files = refused.slice(0, 4).map((f) => quoted(f));
      return unknown(
        text(
          `DOCKER_HOST in docker.service: ${files.join(", ")} not read (a symbolic link, not a regular file of the user's, too large, or more drop-ins than the 64 read)`,
          `docker.service 中的 DOCKER_HOST：未读取 ${files.join("、")}（符号链接、不是该用户自己的普通文件、文件过大，或 drop-in 超过读取上限 64 个）`,
        ),
      );
    }
    if (client.endpoints.length > 0)
      return pass(
        text(
          `The client is wired to the rootless socket ${want}.`,
          `客户端已连接到 rootless 套接字 ${want}。`,
        ),
        { endpoints: client.endpoints.map((e) => e.source) },
      );
    return pass(
      text(
        `No DOCKER_HOST in docker.service and the default context: the docker CLI follows DOCKER_HOST from the user's shell (not seen from here), else unix:///var/run/docker.sock.`,
        `docker.service 中没有 DOCKER_HOST，且使用默认上下文：docker 客户端会使用用户 shell 中的 DOCKER_HOST（此处无法看到），否则使用 unix:///var/run/docker.sock。`,
      ),
      { context: "default" },
    );
  },
};
