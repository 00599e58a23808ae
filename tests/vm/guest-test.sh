#!/bin/bash
# Runs inside the test guest at every boot (as root): $1 = boot number,
# $2 = what `systemctl is-system-running --wait` said. Prints ok:/FAILED:
# lines; exits 100 to be rebooted, 0 when all is done, 1 on a failure.
set -u
boot=$1
state=$2
export DEBIAN_FRONTEND=noninteractive
failed=0
check() { # description, command...
    local what=$1; shift
    if "$@" >/tmp/check.out 2>&1; then
        echo "ok: boot $boot: $what"
    else
        echo "FAILED: boot $boot: $what"; sed 's/^/    /' /tmp/check.out; failed=1
    fi
}
poll() { # seconds, command...: true once the command succeeds
    local until=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
    while [ $(( $(date +%s%N) / 1000000 )) -lt $until ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
OLD="41001/tcp 42003/udp 43005/tcp"
NEW="44001/udp 45003/tcp 46005/udp"

# Two clients in their own namespaces (scripts/lab.sh), each on a veth to
# this host: client (192.0.2.2) reaches the host as 192.0.2.1, client2
# (192.0.2.6) as 192.0.2.5. A listener stands behind the door, 22/tcp.
# shellcheck source=scripts/lab.sh
source "$(dirname "$0")/lab.sh"
lab_init vm
net() {
    local ns=$1 host=$2 peer=$3 dev=$4
    lab_host "$ns"
    lab_link . "$dev" "$ns" eth0
    lab_addr . "$dev" "$host/30"
    lab_addr "$ns" eth0 "$peer/30"
}
net client 192.0.2.1 192.0.2.2 veth0
net client2 192.0.2.5 192.0.2.6 veth1
systemd-run --quiet --unit=listener /usr/bin/python3 -m http.server --bind 0.0.0.0 22
poll 10 sh -c 'ss -ltn | grep -q ":22 "'
open_from() { on "$1" timeout 3 bash -c "</dev/tcp/$2/22"; }
knock() { local ns=$1 to=$2; shift 2; on "$ns" setpriv --reuid=65534 --regid=65534 --clear-groups nfknock knock "$to" "$@"; }
shut_from() { ! open_from "$@"; }
mails_from() { grep -rl "knock from $1 " /var/mail/sink/new 2>/dev/null | wc -l; }
mailed() { test "$(mails_from "$1")" -ge 1; }
# knock NS ADDR SEQ...: then is the door open to NS?
knock_opens() { local ns=$1 to=$2; shift 2; knock "$ns" "$to" "$@"; open_from "$ns" "$to"; }
knock_fails() { local ns=$1 to=$2; shift 2; knock "$ns" "$to" "$@"; shut_from "$ns" "$to"; }

echo "state at boot $boot: $state"
case $boot in
1)
    debconf-set-selections <<SEL
nfknock nfknock/enable boolean true
nfknock nfknock/door string 22/tcp
nfknock nfknock/sequence password $OLD
nfknock nfknock/notify_email string root@localhost
SEL
    check "apt install ./nfknock.deb with preseeded answers" apt-get install -y -q /mnt/vmtest/nfknock.deb
    # The sink listens on IPv4 loopback; a real host would name its relay.
    nfknock config set notify.smtp smtp://127.0.0.1:25 && systemctl restart nfknock-watch.service
    check "the system is running" test "$(systemctl is-system-running --wait)" = running
    check "nfknock.service active" systemctl is-active nfknock.service
    check "nfknock-watch.service active" poll 20 systemctl is-active nfknock-watch.service
    systemctl status nfknock.service nfknock-watch.service --no-pager -l | tail -30
    journalctl -u nfknock-watch.service --no-pager | tail -20
    check "the rules are loaded" nft list table inet nfknock
    check "the door is shut" shut_from client 192.0.2.1
    check "a knock from a second namespace opens the door" knock_opens client 192.0.2.1 $OLD
    check "the watcher mails it" poll 30 mailed 192.0.2.2
    # The watcher gets the watcher's view of the config, never the config:
    # no knock, no secret; it cannot read /etc/nfknock either.
    cred=/run/credentials/nfknock-watch.service/watch.toml
    check "the watcher's credential is its view" grep -q '^watcher_view = 1' $cred
    check "...with the door's name" grep -q '^doors = \["ssh"\]' $cred
    check "...and no knock, sequence, secret or port" sh -c "! grep -qE '41001|42003|43005' $cred && ! grep -v '^#' $cred | grep -qE 'sequence|secret|rotate|port'"
    check "...and no other credential" test "$(ls /run/credentials/nfknock-watch.service)" = watch.toml
    check "the view's socket is root-only" test "$(stat -c '%a %U' /run/nfknock/watch-view.sock)" = "600 root"
    wuid=$(stat -c %u "/proc/$(systemctl show -p MainPID --value nfknock-watch.service)")
    check "the watcher's user ($wuid) is not root" test "$wuid" != 0
    check "the watcher's user cannot read the config" sh -c "! setpriv --reuid=$wuid --regid=$wuid --clear-groups cat /etc/nfknock/nfknock.toml"
    # A [notify] edit needs only a restart of the watcher.
    nfknock config set notify.email_from view-test@localhost
    check "restart the watcher after a [notify] edit" systemctl restart nfknock-watch.service
    check "...its view has the edit" grep -q 'view-test@localhost' $cred
    check "restart nftables (flush ruleset)" systemctl restart nftables.service
    # Under software emulation on a busy machine a second is not always
    # enough: the bound is generous, the check is that they come back.
    check "nfknock's rules are back (within 10 s)" poll 10 nft list table inet nfknock
    # PartOf= carries a stop and a restart, not a start: a start after a
    # stop must bring the rules back too (WantedBy=nftables.service).
    check "stop nftables (flush ruleset)" systemctl stop nftables.service
    check "the stop flushed nfknock's rules" sh -c '! nft list table inet nfknock'
    check "start nftables" systemctl start nftables.service
    check "nfknock's rules are back after a stop and a start (within 10 s)" poll 10 nft list table inet nfknock
    check "the door is shut again" shut_from client 192.0.2.1
    [ $failed = 0 ] && exit 100 || exit 1
    ;;
2)
    check "the system is running" test "$state" = running
    check "nfknock.service active" systemctl is-active nfknock.service
    check "the rules are loaded at boot" nft list table inet nfknock
    done_nfk=$(systemctl show -p ExecMainExitTimestampMonotonic --value nfknock.service)
    net_pre=$(systemctl show -p ActiveEnterTimestampMonotonic --value network-pre.target)
    echo "nfknock.service exited at ${done_nfk}us, network-pre.target reached at ${net_pre}us (monotonic)"
    systemd-analyze critical-chain network-pre.target nfknock.service --no-pager || true
    check "the rules were in place before network-pre.target" test "$done_nfk" -gt 0 -a "$done_nfk" -le "$net_pre"
    check "the watcher runs again" systemctl is-active nfknock-watch.service
    check "a new knock opens the door" knock_opens client2 192.0.2.5 $OLD
    check "and is mailed" poll 30 mailed 192.0.2.6
    check "the knock from before the reboot was mailed once" test "$(mails_from 192.0.2.2)" -eq 1
    echo "nfknock nfknock/sequence password $NEW" | debconf-set-selections
    check "dpkg-reconfigure with a new sequence" dpkg-reconfigure nfknock
    check "the old sequence no longer opens" knock_fails client 192.0.2.1 $OLD
    check "the new sequence opens" knock_opens client 192.0.2.1 $NEW
    [ $failed = 0 ] && exit 100 || exit 1
    ;;
3)
    check "the system is running" test "$state" = running
    check "after a reboot the old sequence still fails" knock_fails client 192.0.2.1 $OLD
    check "and the new one works" knock_opens client 192.0.2.1 $NEW
    systemd-analyze security nfknock-watch.service --no-pager | tail -1
    score=$(systemd-analyze security nfknock-watch.service --no-pager | sed -n 's/.*exposure level for nfknock-watch.service: \([0-9.]*\).*/\1/p')
    check "nfknock-watch.service exposure $score <= 1.5" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.5) }'
    check "apt purge nfknock" apt-get purge -y -q nfknock
    check "no rule left" sh -c '! nft list ruleset | grep -q nfknock'
    check "no file left" sh -c '! test -e /etc/nfknock && ! test -e /var/lib/nfknock && ! test -e /usr/bin/nfknock'
    check "no unit left" sh -c '! systemctl list-unit-files "nfknock*" --no-legend | grep -q . && ! find /etc/systemd -name "nfknock*" | grep -q .'
    exit $failed
    ;;
esac
exit 1
