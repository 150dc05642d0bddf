#!/usr/bin/env bash
# Builds the disk image of the real-host ring (test/e2e/vm.test.ts): a Debian 12 booted by QEMU,
# from Debian packages only. Cached in $VM_DIR; built into a temporary directory and moved into
# place only when complete, so a build that dies leaves no half image behind.
#
#   VM_DIR/disk.raw      ext4 of the whole disk (no partition table), booted with -snapshot
#   VM_DIR/vmlinuz       the image's own kernel and initrd, for -kernel/-initrd
#   VM_DIR/initrd.img
#   VM_DIR/id_ed25519    root's ssh key (made here; only root on this machine can read it)
#   VM_DIR/node-base.tar a container base for the Dockerfile's BASE argument (no registry in the VM)
#
# Baked in (static, so every boot starts from it): the packages, the users vma, vmb, vmc and
# their subordinate IDs, the host's node binary at /usr/local/bin/node (Debian 12's nodejs is 18;
# the exporter needs 20), DHCP on the virtio NIC. Left to each boot, over ssh, because it needs a
# running systemd: linger, the rootless Docker setup tool, the exporter's units.
set -euo pipefail

VM_DIR=${VM_DIR:-/var/tmp/rootless-exporter-vm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# Bump when the recipe below changes, so a cached image of an older recipe is rebuilt.
RECIPE=3

if [ "$(id -u)" != 0 ]; then
  echo "scripts/vm-image.sh needs root (debootstrap, chroot)" >&2
  exit 2
fi
node_bin=$(command -v node)

# The base image of the container scenario, made outside the VM (which has no network): Debian 12
# minbase with getcap, this host's node and the `node` user of the official image (uid 1000), as a
# tar for `docker import`.
build_base() {
  local base
  base=$(mktemp -d /var/tmp/rootless-exporter-vm.base.XXXXXX)
  timeout 900 debootstrap --variant=minbase --include=libcap2-bin,libstdc++6 bookworm "$base/root" "$MIRROR"
  install -m 0755 "$node_bin" "$base/root/usr/local/bin/node"
  chroot "$base/root" useradd --uid 1000 --create-home --shell /bin/sh node
  rm -rf "$base/root/var/cache/apt/archives/"*.deb "$base/root/var/lib/apt/lists/"*
  tar -C "$base/root" --numeric-owner -cf "$VM_DIR/node-base.tar.tmp" .
  mv "$VM_DIR/node-base.tar.tmp" "$VM_DIR/node-base.tar"
  rm -rf "$base"
}

if [ -f "$VM_DIR/recipe" ] && [ "$(cat "$VM_DIR/recipe")" = "$RECIPE" ]; then
  echo "VM image $VM_DIR is current (recipe $RECIPE)"
  [ -f "$VM_DIR/node-base.tar" ] || build_base
  exit 0
fi

work=$(mktemp -d /var/tmp/rootless-exporter-vm.build.XXXXXX)
root=$work/root
cleanup() {
  for m in proc sys dev/pts dev; do mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

packages=(linux-image-amd64 initramfs-tools systemd systemd-sysv dbus
  dbus-user-session libpam-systemd openssh-server uidmap rootlesskit slirp4netns docker.io
  containerd runc tini iptables kmod procps iproute2 apparmor libstdc++6 ca-certificates
  libcap2-bin curl)
include=$(IFS=,; echo "${packages[*]}")
timeout 1500 debootstrap --variant=minbase --include="$include" bookworm "$root" "$MIRROR"

# Services that only slow a TCG boot, or that the test starts itself (rootful Docker, for the
# container scenario only).
for unit in docker.service docker.socket containerd.service apt-daily.timer apt-daily-upgrade.timer \
  man-db.timer e2scrub_all.timer fstrim.timer systemd-networkd-wait-online.service; do
  chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
done
chroot "$root" systemctl enable systemd-networkd.service >/dev/null

echo rootless-vm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 rootless-vm\n' > "$root/etc/hosts"
printf '/dev/vda / ext4 defaults,noatime 0 1\n' > "$root/etc/fstab"
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/20-wired.network"

# root over ssh with a key made here.
ssh-keygen -q -t ed25519 -N '' -C rootless-exporter-vm -f "$work/id_ed25519"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$work/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
printf 'UseDNS no\nPermitRootLogin prohibit-password\n' > "$root/etc/ssh/sshd_config.d/rootless-vm.conf"

# The users (docs/ and the ring's scenarios): vma gets rootless Docker, vmb subordinate IDs only,
# vmc the guide's fault of a subordinate range too small for a Docker image (1,000 IDs).
: > "$root/etc/subuid"
: > "$root/etc/subgid"
for u in vma vmb vmc; do chroot "$root" useradd --create-home --shell /bin/bash "$u"; done
cat > "$root/etc/subuid" <<'EOF'
vma:100000:65536
vmb:165536:65536
vmc:231072:1000
EOF
cp "$root/etc/subuid" "$root/etc/subgid"

install -m 0755 "$node_bin" "$root/usr/local/bin/node"
chroot "$root" /usr/local/bin/node --version

kernel=$(find "$root/boot" -name 'vmlinuz-*' | sort | tail -n 1)
initrd=$(find "$root/boot" -name 'initrd.img-*' | sort | tail -n 1)
[ -n "$kernel" ] && [ -n "$initrd" ] || {
  echo "no kernel or initrd in $root/boot" >&2
  exit 1
}
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
# Populated from the directory: no loop device, no mount.
truncate -s 6G "$work/disk.raw"
mkfs.ext4 -q -L rootless-vm -d "$root" "$work/disk.raw"
echo "$RECIPE" > "$work/recipe"

rm -rf "$VM_DIR.new"
mkdir -p "$VM_DIR.new"
mv "$work/disk.raw" "$work/vmlinuz" "$work/initrd.img" "$work/id_ed25519" "$work/id_ed25519.pub" \
  "$work/recipe" "$VM_DIR.new/"
chmod 0700 "$VM_DIR.new"
rm -rf "$VM_DIR.old"
[ -e "$VM_DIR" ] && mv "$VM_DIR" "$VM_DIR.old"
mv "$VM_DIR.new" "$VM_DIR"
rm -rf "$VM_DIR.old"
build_base
echo "VM image built in $VM_DIR ($(du -sh --apparent-size "$VM_DIR/disk.raw" | cut -f1) apparent, $(du -sh "$VM_DIR/disk.raw" | cut -f1) used)"
