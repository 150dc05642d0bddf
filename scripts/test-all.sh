#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12, as root: installs what it needs, provisions the test
# user, builds, lints and runs every test ring. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/test-all.sh needs root (it installs packages and creates a test user); run it with sudo" >&2
  exit 2
fi

step() { printf '\n== %s\n' "$*"; }

step "Debian packages"
packages=(prometheus libcap2-bin uidmap dbus util-linux procps iproute2 systemd
  docker.io rootlesskit slirp4netns passt busybox-static iptables
  systemd-container debootstrap curl iperf3 qemu-system-x86 openssh-client e2fsprogs)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  # Packages must not start their services here (no systemd as PID 1; CI starts what it needs).
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

step "openssl for the web tests (test certificates are made at test time)"
# test/e2e/web*.test.ts make a throwaway CA, server and client certificates in a temp dir.
if ! command -v openssl >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl \
    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl; }
fi

step "npm ci"
npm ci --no-audit --no-fund

step "build, typecheck, lint, format"
npm run build
npm run typecheck
npm run lint
npm run format:check

# --- issue 20: the release package --------------------------------------------------------
step "release package: npm run package (a .deb with its own Node.js; build/ keeps a clean commit's)"
# test/e2e/package.test.ts installs it in the Debian 12 root below, which has no Node.js.
# zstd: a build of 1-2 s where xz (the release default) takes about 100 s; the test checks the same files.
ROOTLESS_TEST_DEB=$(node scripts/package.mjs --compression=zstd | tail -n 1)
export ROOTLESS_TEST_DEB
# ------------------------------------------------------------------------------------------

step "test user"
export ROOTLESS_TEST_USER=rlx-live
if ! id "$ROOTLESS_TEST_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$ROOTLESS_TEST_USER"
fi
# A clean Docker data root: an earlier run that died may have left containers there.
rm -rf "/home/$ROOTLESS_TEST_USER/.local/share/docker"
grep -q "^$ROOTLESS_TEST_USER:" /etc/subuid || echo "$ROOTLESS_TEST_USER:200000:65536" >> /etc/subuid
grep -q "^$ROOTLESS_TEST_USER:" /etc/subgid || echo "$ROOTLESS_TEST_USER:200000:65536" >> /etc/subgid
# The test user runs the built daemon from a world-readable copy: the checkout may sit under /root.
stage=/tmp/rootless-exporter-stage
rm -rf "$stage" && mkdir -p "$stage"
cp -r dist package.json "$stage/"
npm ls --omit=dev --parseable --all | tail -n +2 | while read -r dep; do
  rel=${dep#"$PWD"/}
  mkdir -p "$stage/$(dirname "$rel")" && cp -r "$dep" "$stage/$rel"
done
chmod -R a+rX "$stage"
export ROOTLESS_TEST_MAIN="$stage/dist/main.js"

step "hostile test user (issue 10: a watched user who plants FIFOs, symlinks and journals)"
# Its own user, apart from rlx-live: test/unit/user-files.test.ts and test/e2e/hostile.test.ts
# run a root exporter against it. Fixed subordinate IDs far above the ones useradd hands out
# (100000 + 65536 n), written before useradd so that it allocates none of its own.
export ROOTLESS_HOSTILE_USER=rlx-hostile
grep -q "^$ROOTLESS_HOSTILE_USER:" /etc/subuid || echo "$ROOTLESS_HOSTILE_USER:1000000:65536" >> /etc/subuid
grep -q "^$ROOTLESS_HOSTILE_USER:" /etc/subgid || echo "$ROOTLESS_HOSTILE_USER:1000000:65536" >> /etc/subgid
if ! id "$ROOTLESS_HOSTILE_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$ROOTLESS_HOSTILE_USER"
fi

# rootlesskit's slirp4netns needs /dev/net/tun, which is 0600 on these machines.
[ -e /dev/net/tun ] && chmod 666 /dev/net/tun

step "Debian 12 root filesystem for the systemd ring (cached in /var/tmp)"
nspawn_root=/var/tmp/rootless-exporter-nspawn/bookworm
if [ ! -x "$nspawn_root/lib/systemd/systemd" ]; then
  rm -rf "$nspawn_root.tmp"
  mkdir -p "$(dirname "$nspawn_root")"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,libpam-systemd,iproute2,dbus-user-session \
    bookworm "$nspawn_root.tmp" http://deb.debian.org/debian
  mv "$nspawn_root.tmp" "$nspawn_root"
fi
export ROOTLESS_TEST_NSPAWN_ROOT="$nspawn_root"

step "Debian 13 root filesystem for the pasta ring (cached in /var/tmp)"
# rootlesskit 2, passt (pasta), Docker 26 and Node 20 from Debian 13, with its own test user.
ROOTLESS_TEST_TRIXIE_ROOT=$(bash scripts/trixie-root.sh /var/tmp/rootless-exporter-trixie/root rlx-pasta | tail -n 1)
export ROOTLESS_TEST_TRIXIE_ROOT ROOTLESS_TEST_TRIXIE_USER=rlx-pasta

step "Debian unstable root filesystem for the Docker-28 ring (cached in /var/tmp)"
# Docker 28, rootlesskit 2.0.2, passt and Node 24 from Debian unstable: test/e2e/pasta.test.ts runs
# its first ring there too (issue 21).
ROOTLESS_TEST_SID_ROOT=$(DEBIAN_SUITE=sid bash scripts/trixie-root.sh /var/tmp/rootless-exporter-sid/root rlx-pasta | tail -n 1)
export ROOTLESS_TEST_SID_ROOT

step "Debian 12 VM image for the real-host ring (cached in /var/tmp; about 4 minutes to build)"
# Its own kernel, systemd as PID 1, cgroup v2, rootless Docker: test/e2e/vm.test.ts boots it.
export ROOTLESS_TEST_VM_DIR=/var/tmp/rootless-exporter-vm
VM_DIR="$ROOTLESS_TEST_VM_DIR" bash scripts/vm-image.sh

step "systemd units"
systemd-analyze verify --man=no deploy/systemd-user/rootless-exporter.service
systemd-analyze verify --man=no deploy/systemd/rootless-exporter.service

step "vitest"
# This script provisions every ring's prerequisites: a missing one fails its ring (with the reason)
# rather than skipping it (test/helpers/prerequisites.ts).
export CI="${CI:-true}"
report=$(mktemp /tmp/vitest-report.XXXXXX.json)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
# The closing line. Vitest counts the tests of a file whose beforeAll threw as skipped, and a file
# that fails to load has no tests at all: both are counted here as files that failed outside a test.
summary=0
node scripts/vitest-summary.mjs "$report" || summary=$?
rm -f "$report"
[ "$status" != 0 ] || status=$summary
exit "$status"
