# rootless-exporter in a container, in host mode: watching every user of a host mounted
# read-only at /host (README, "Run on a fleet").
#   docker build -t rootless-exporter .
#   docker run -d --name rootless-exporter --pid=host --net=host \
#     --cap-drop=ALL --cap-add=DAC_READ_SEARCH --cap-add=DAC_OVERRIDE --cap-add=SYS_PTRACE \
#     --cap-add=SETUID --cap-add=SETGID --cap-add=KILL \
#     -v /:/host:ro,rslave rootless-exporter
# (--pid=host so /host/proc shows the host's processes; --net=host so the port is the host's.)
# It runs as root inside: the users' runtime dirs are theirs alone (0700), each user's bus
# accepts only that user (the exporter connects with the user's uid, which needs SETUID and
# SETGID), and /proc/PID/fd of their processes needs SYS_PTRACE. --target.user=alice narrows it.

#
# Build arguments, for hosts without a registry (the real-host test ring builds it in a VM):
#   BASE  the image both stages start from: Debian 12 with Node.js 20 and a `node` user
#         (default: the official Node image)
#   APP   build: compile in the image (needs the npm registry); context: take dist/,
#         node_modules/ (runtime only) and package.json from the build context as they are
ARG BASE=node:20-bookworm-slim
ARG APP=build

FROM ${BASE} AS app-build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Unused with APP=build; copies only what .dockerignore lets through, so it cannot fail there.
FROM ${BASE} AS app-context
COPY . /src/

FROM app-${APP} AS app

FROM ${BASE}
# getcap reads the file capabilities of newuidmap/newgidmap (no Node API for xattrs); a base that
# already has it (the test ring's, built offline) skips apt.
RUN command -v getcap >/dev/null || { apt-get update && apt-get install -y --no-install-recommends \
  libcap2-bin && rm -rf /var/lib/apt/lists/*; }
WORKDIR /opt/rootless-exporter
COPY --from=app /src/package.json ./
COPY --from=app /src/node_modules ./node_modules
COPY --from=app /src/dist ./dist
# Root, with only the capabilities given at `docker run` (see above): a fixed unprivileged user
# could read a watched user's files only if it happened to have that user's uid.
USER root
# As the system unit sets it: freed /metrics bodies go back to the kernel (docs/performance.md).
ENV MALLOC_MMAP_THRESHOLD_=131072
EXPOSE 10049
ENTRYPOINT ["node", "/opt/rootless-exporter/dist/main.js", \
  "--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host"]
