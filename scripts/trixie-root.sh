#!/usr/bin/env bash
# A Debian 13 (trixie) root with rootlesskit 2, passt (pasta), slirp4netns, Docker 26 and Node 20,
# for the pasta ring (test/e2e/pasta.test.ts): Debian 12's rootlesskit 1.1 cannot run pasta.
# Built once with debootstrap into a cache dir and renamed into place only when complete; the test
# user (with subordinate IDs inside the root) is provisioned on every run, so the cache is reused.
#
# usage: scripts/trixie-root.sh [ROOT] [USER]   (as root; prints ROOT on stdout, progress on stderr)
# DEBIAN_SUITE=sid builds the same root from Debian unstable (Docker 28, rootlesskit 2) for the
# Docker-28 ring (test/e2e/docker28.test.ts).
set -euo pipefail

suite=${DEBIAN_SUITE:-trixie}
root=${1:-/var/tmp/rootless-exporter-$suite/root}
user=${2:-rlx-pasta}
mirror=${TRIXIE_MIRROR:-http://deb.debian.org/debian}
packages=rootlesskit,passt,slirp4netns,uidmap,docker.io,docker-cli,iptables,iproute2,curl,procps,nodejs,busybox-static,iperf3,ca-certificates
# trixie's marker is the package list alone (roots cached before suites existed stay valid).
stamp=$packages
[ "$suite" = trixie ] || stamp="$suite:$packages"

if [ "$(id -u)" != 0 ]; then
  echo "scripts/trixie-root.sh needs root (debootstrap, useradd inside the root)" >&2
  exit 2
fi

# The marker, written last, holds the package list: a root without it is an interrupted build, and
# one built from another list is stale; both are built again.
marker="$root/.rootless-exporter-complete"
if [ "$(cat "$marker" 2> /dev/null)" != "$stamp" ]; then
  rm -rf "$root.tmp"
  mkdir -p "$(dirname "$root")"
  # Bounded: a stuck mirror must not eat the CI budget.
  timeout 1500 debootstrap --variant=minbase --include="$packages" "$suite" "$root.tmp" "$mirror" >&2
  # Packages' services never start in the root (nspawn runs single commands, not systemd).
  printf '#!/bin/sh\nexit 101\n' > "$root.tmp/usr/sbin/policy-rc.d"
  chmod +x "$root.tmp/usr/sbin/policy-rc.d"
  rm -rf "$root.tmp/var/cache/apt/archives/"*.deb
  echo "$stamp" > "$root.tmp/.rootless-exporter-complete"
  rm -rf "$root"
  mv "$root.tmp" "$root"
fi

# The test user: a uid that no usual host account has (the host's /proc shows the container's
# processes under it), and 65536 subordinate IDs for rootlesskit's newuidmap, away from the host's
# usual ranges.
uid=23000
base=300000
if [ "$(chroot "$root" id -u "$user" 2> /dev/null)" != "$uid" ]; then
  chroot "$root" userdel --remove "$user" > /dev/null 2>&1 || true
  chroot "$root" useradd --create-home --shell /bin/bash --uid "$uid" --user-group "$user"
fi
for f in subuid subgid; do
  sed -i "/^$user:/d" "$root/etc/$f"
  echo "$user:$base:65536" >> "$root/etc/$f"
done
# A clean Docker data root: an earlier run that died may have left containers there.
rm -rf "$root/home/$user/.local/share/docker"
echo "$root"
