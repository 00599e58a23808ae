#!/bin/bash
# System test: a real Debian 12 with systemd as PID 1 boots under QEMU
# (software emulation), installs the nfknock .deb with preseeded answers,
# and keeps every promise across reboots. Root only; the guest has no
# network card (loopback and its own namespaces only).
#
#   bash tests/vm/run.sh target/debian/nfknock_*.deb
#
# The base image is cached in $NFKNOCK_VM_CACHE (default
# /var/cache/nfknock-vm), keyed on the hash of what builds it.
set -euo pipefail
deb=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
cache=${NFKNOCK_VM_CACHE:-/var/cache/nfknock-vm}
work=$(mktemp -d /tmp/nfknock-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
ts() { echo "[$(date +%T)] $*"; }

# Every tool this script calls, checked before the image build, not after.
# qemu-system-x86 and qemu-utils must be of one version: a newer qemu-utils
# already there (from backports) is brought to this release's rather than
# removed by apt.
source "$here/../../scripts/require.sh"
require --same-release qemu-system-x86=qemu-system-x86_64 qemu-utils=qemu-img
require mmdebstrap=mmdebstrap e2fsprogs=mke2fs

packages=systemd-sysv,udev,linux-image-amd64,initramfs-tools,nftables,iproute2,dbus,debconf,libsystemd0,python3-aiosmtpd,procps
# What the base image is made of; bump BASE_VERSION when the recipe below changes.
BASE_VERSION=1
key=$(cat "$here/base-runner.sh" <(echo "$BASE_VERSION $packages") | sha256sum | cut -c1-16)
base=$cache/base-$key
if [ ! -e "$base/base.qcow2" ]; then
    ts "building the base image (cached in $base)"
    rm -rf "$cache"/base-* && mkdir -p "$base"
    root=$work/rootfs
    mmdebstrap --variant=minbase --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        bookworm "$root" /etc/apt/sources.list.d/debian.sources
    echo nfkvm > "$root/etc/hostname"
    echo '/dev/vda / ext4 defaults 0 0' > "$root/etc/fstab"
    chroot "$root" passwd -dq root
    mkdir -p "$root/var/log/journal" "$root/var/mail/sink"/{tmp,new,cur}
    install -m 755 "$here/base-runner.sh" "$root/usr/local/sbin/vmtest-runner"
    printf '[Service]\nType=exec\nExecStart=/usr/local/sbin/vmtest-runner\n[Install]\nWantedBy=multi-user.target\n' \
        > "$root/etc/systemd/system/vmtest.service"
    ln -s ../vmtest.service "$root/etc/systemd/system/multi-user.target.wants/vmtest.service"
    # An SMTP sink on loopback: the watcher's mails land in /var/mail/sink.
    printf '[Service]\nExecStart=/usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:25 -c aiosmtpd.handlers.Mailbox /var/mail/sink\n[Install]\nWantedBy=multi-user.target\n' \
        > "$root/etc/systemd/system/smtp-sink.service"
    ln -s ../smtp-sink.service "$root/etc/systemd/system/multi-user.target.wants/smtp-sink.service"
    cp -L "$root/vmlinuz" "$root/initrd.img" "$base/"
    truncate -s 3G "$work/raw.img"
    mke2fs -q -t ext4 -F -L root -d "$root" "$work/raw.img"
    qemu-img convert -c -O qcow2 "$work/raw.img" "$base/base.qcow2"
    rm -rf "$root" "$work/raw.img"
fi

share=$work/share
mkdir -p "$share"
cp "$deb" "$share/nfknock.deb"
cp "$here/guest-test.sh" "$share/test.sh"
cp "$here/../../scripts/lab.sh" "$share/lab.sh"
qemu-img create -q -f qcow2 -b "$base/base.qcow2" -F qcow2 "$work/run.qcow2"
n=0
while n=$((n + 1)); [ $n -le 6 ]; do
    ts "boot $n"
    timeout 900 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 1536 -nic none \
        -display none -monitor none -no-reboot \
        -kernel "$base/vmlinuz" -initrd "$base/initrd.img" -append 'root=/dev/vda rw console=ttyS0' \
        -serial "file:$work/console.$n.log" \
        -drive "file=$work/run.qcow2,format=qcow2,if=virtio" \
        -virtfs "local,path=$share,mount_tag=vmtest,security_model=none" || echo "qemu exited with $?"
    rc=$(cat "$share/rc.$n" 2>/dev/null || echo none)
    echo "== boot $n: rc=$rc"
    cat "$share/out.$n" 2>/dev/null || tail -30 "$work/console.$n.log"
    [ "$rc" = 100 ] || break
done
ts "done"
grep -h '^ok:\|^FAILED:' "$share"/out.* > "$work/results" || true
passed=$(grep -c '^ok:' "$work/results" || true)
failed=$(grep -c '^FAILED:' "$work/results" || true)
[ "$rc" = 0 ] || failed=$((failed + 1))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
