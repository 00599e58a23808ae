#!/bin/sh
# Runs at every boot of the test guest: mounts the share, runs its test.sh
# with the boot number and the system state; 100 asks for a reboot.
mkdir -p /mnt/vmtest /var/lib/vmtest
mount -t 9p -o trans=virtio,version=9p2000.L vmtest /mnt/vmtest || exit 0
n=$(( $(cat /var/lib/vmtest/boot 2>/dev/null || echo 0) + 1 )); echo $n > /var/lib/vmtest/boot
state=$(systemctl is-system-running --wait)
bash /mnt/vmtest/test.sh "$n" "$state" > /mnt/vmtest/out.$n 2>&1; rc=$?
echo $rc > /mnt/vmtest/rc.$n; sync
if [ $rc = 100 ]; then systemctl reboot; else systemctl poweroff; fi
