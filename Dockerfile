# rootless-exporter in a container, watching a host mounted read-only at /host.
#   docker build -t rootless-exporter .
#   docker run -d --name rootless-exporter --pid=host --net=host \
#     -v /:/host:ro,rslave rootless-exporter --target.user=alice
# (--pid=host so /host/proc shows the host's processes; --net=host so the port is the host's.)

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# getcap reads the file capabilities of newuidmap/newgidmap (no Node API for xattrs).
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/rootless-exporter
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER node
EXPOSE 10049
ENTRYPOINT ["node", "/opt/rootless-exporter/dist/main.js", \
  "--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host"]
