#!/usr/bin/env bash
# bench/probe.mjs on rootlesskit 2 (pasta and slirp4netns, MTU 1500 and 65520), as the test user
# of the Debian 13 root (scripts/trixie-root.sh), with Debian 13's node, in a systemd-nspawn
# container on the host's network. As root, after `npm run build`:
#   bash bench/probe-trixie.sh [bytes] [rounds]
# iperf3 3.18 there stretches a -n transfer to a whole second, so it runs for 3 s instead (-t 3 -O 0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(bash scripts/trixie-root.sh /var/tmp/rootless-exporter-trixie/root rlx-pasta | tail -n 1)
[ -e /dev/net/tun ] && chmod 666 /dev/net/tun
systemd-nspawn -q -D "$root" --register=no --keep-unit --bind=/dev/net/tun \
  --system-call-filter=@keyring --bind-ro="$PWD:/opt/rootless-exporter" -u rlx-pasta \
  --setenv=XDG_RUNTIME_DIR=/tmp --chdir=/opt/rootless-exporter \
  /usr/bin/node bench/probe.mjs "${1:-67108864}" "${2:-3}" --nets=pasta,slirp4netns --mtus=1500,65520 --iperf-seconds=3
