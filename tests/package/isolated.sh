#!/bin/bash
# Runs inside the private namespaces of run.sh: builds the overlay root and
# runs the checks in it.
set -euo pipefail
deb=$1
here=$(dirname "$(realpath "$0")")
base=/run/nfknock-package-test.$$
mkdir -p "$base"
mount -t tmpfs tmpfs "$base"
mkdir "$base"/{upper,work,root}
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
root=$base/root
# Its own PID namespace: the argv poller sees only these processes.
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cp "$deb" "$root/tmp/nfknock.deb"
cp "$here/checks.sh" "$root/tmp/checks.sh"
ip link set lo up
chroot "$root" /bin/bash /tmp/checks.sh
