#!/bin/bash
# The checks, in the isolated root. Prints "N passed, N failed".
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
passed=0
failed=0
check() { # description, command...
    local what=$1; shift
    if "$@" >/tmp/check.out 2>&1; then
        passed=$((passed + 1)); echo "ok: $what"
    else
        failed=$((failed + 1)); echo "FAILED: $what"; sed 's/^/    /' /tmp/check.out
    fi
}
# grep reads all of it: with pipefail, -q would let nft die of SIGPIPE.
no_rules() { ! nft list ruleset | grep nfknock >/dev/null; }
mode_of() { stat -c '%a %U' "$1"; }
CONF=/etc/nfknock/nfknock.toml
SHIPPED_SEQ="40213/tcp 7411/udp 51732/tcp 18834/udp"

# A local user (nobody) polls every process's command line while the
# maintainer scripts run: no sequence may show there. argv_poll_start
# LOG, then argv_poll_stop. That the poller sees the scripts' nfknock runs
# is checked on all of them (config get, gen-sequence, config set,
# apply): the one `config set` lasts a few milliseconds and can fall
# between two polls.
argv_poll_start() {
    setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import os, sys
seen = set()
while True:
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                c = f.read()
        except OSError:
            continue
        if c and c not in seen:
            seen.add(c)
            sys.stdout.write(c.replace(b"\0", b" ").decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
' >"$1" &
    poller=$!
    # Running, and seeing processes, before the scripts start.
    for _ in $(seq 100); do grep -q python3 "$1" && return; sleep 0.05; done
}
argv_poll_stop() { kill "$poller"; wait "$poller" 2>/dev/null || true; }

# Start from a package-free state, as on a machine that never had it.
dpkg --purge nfknock >/dev/null 2>&1 || true

debconf-set-selections <<'SEL'
nfknock nfknock/enable boolean false
nfknock nfknock/door string 22/tcp
nfknock nfknock/mode select guard
nfknock nfknock/backend select nftables
nfknock nfknock/notify_email string
SEL

argv_poll_start /tmp/argv-install.log
check "dpkg -i installs non-interactively" dpkg -i /tmp/nfknock.deb
argv_poll_stop
check "binary 0755 root" test "$(mode_of /usr/bin/nfknock)" = "755 root"
check "config 0600 root" test "$(mode_of $CONF)" = "600 root"
check "config is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' nfknock | grep -q ' $CONF '"
check "units installed" test -f /usr/lib/systemd/system/nfknock.service -a -f /usr/lib/systemd/system/nfknock-watch.service
check "boot restore enabled, watcher not" sh -c 'test -L /etc/systemd/system/sysinit.target.wants/nfknock.service && ! test -e /etc/systemd/system/multi-user.target.wants/nfknock-watch.service'
check "metrics units installed, not enabled" sh -c 'test -f /usr/lib/systemd/system/nfknock-metrics.service -a -f /usr/lib/systemd/system/nfknock-metrics.timer && ! test -e /etc/systemd/system/timers.target.wants/nfknock-metrics.timer'
check "man -w finds nfknock(8) and nfknock.toml(5)" sh -c 'man -w nfknock && man -w 5 nfknock.toml'
check "completions installed" test -f /usr/share/bash-completion/completions/nfknock -a -f /usr/share/zsh/vendor-completions/_nfknock -a -f /usr/share/fish/vendor_completions.d/nfknock.fish
check "example config installed" test -f /usr/share/doc/nfknock/examples/nfknock.toml
check "xt_recent lists root-only from the module's next load" grep -q "^options xt_recent ip_list_perms=0600" /etc/modprobe.d/nfknock.conf
check "no rule loaded by the install" no_rules
check "systemd-analyze verify: the units, man pages included" systemd-analyze verify /usr/lib/systemd/system/nfknock.service /usr/lib/systemd/system/nfknock-watch.service /usr/lib/systemd/system/nfknock-watch-view.socket "/usr/lib/systemd/system/nfknock-watch-view@.service"
check "the config is valid" nfknock -c $CONF check
seq=$(nfknock -c $CONF config get door.ssh.sequence)
check "a fresh sequence, not the shipped one" test -n "$seq" -a "$seq" != "$SHIPPED_SEQ"
check "the sequence is not in debconf's world-readable config.dat" sh -c "! grep -rqF '${seq%% *}' /var/cache/debconf/config.dat"
check "a local user saw the install's nfknock runs" grep -q "nfknock -c /etc/nfknock/nfknock.toml" /tmp/argv-install.log
check "...but never the fresh sequence in a command line" sh -c "! grep -F '${seq%% *}' /tmp/argv-install.log"

# An admin's comment must survive dpkg-reconfigure. The config file is the
# master copy: a value set there is what debconf asks with next.
echo "# added by the admin" >> $CONF
nfknock -c $CONF config set notify.email_to admin@example.org
debconf-set-selections <<'SEL'
nfknock nfknock/enable boolean true
nfknock nfknock/sequence password 31337/udp 4242/tcp 50505/udp
SEL
argv_poll_start /tmp/argv-reconf.log
check "dpkg-reconfigure runs" dpkg-reconfigure nfknock
argv_poll_stop
check "a local user saw the reconfigure's nfknock runs" grep -q "nfknock -c /etc/nfknock/nfknock.toml" /tmp/argv-reconf.log
check "...but never the new sequence in a command line" sh -c '! grep 31337 /tmp/argv-reconf.log'
check "new sequence in the config" test "$(nfknock -c $CONF config get door.ssh.sequence)" = "31337/udp 4242/tcp 50505/udp"
check "the admin's comment survived" grep -q "^# added by the admin" $CONF
check "the address from the config file was kept" test "$(nfknock -c $CONF config get notify.email_to)" = "admin@example.org"
check "the live ruleset has the new sequence" sh -c 'nft list table inet nfknock | grep -q "udp dport 31337"'
check "the rules are saved for boot" test -f /var/lib/nfknock/ruleset
check "watcher enabled with an address" test -e /etc/systemd/system/multi-user.target.wants/nfknock-watch.service
# The watcher gets the watcher's view of the config, never the config: its
# credential is what the installed nfknock-watch-view@.service prints on a
# connection to the installed socket (systemd-socket-activate does what the
# socket's Accept=yes does; systemd's LoadCredential= reads it so).
UNITS=/usr/lib/systemd/system
check "the watcher's view units installed" test -f $UNITS/nfknock-watch-view.socket -a -f "$UNITS/nfknock-watch-view@.service"
check "the watcher's credential is the view socket" sh -c "test \"\$(sed -n 's/^LoadCredential=watch.toml://p' $UNITS/nfknock-watch.service)\" = \"\$(sed -n 's/^ListenStream=//p' $UNITS/nfknock-watch-view.socket)\""
check "...and not the config" sh -c "! grep -q '^LoadCredential=.*/etc/nfknock' $UNITS/nfknock-watch.service"
view_exec=$(sed -n 's/^ExecStart=//p' "$UNITS/nfknock-watch-view@.service")
# shellcheck disable=SC2086 # the unit's command line, split as systemd does
systemd-socket-activate --accept --inetd -l /run/nfknock-view-test.sock $view_exec 2>/dev/null &
activator=$!
for _ in $(seq 100); do test -S /run/nfknock-view-test.sock && break; sleep 0.05; done
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
' /run/nfknock-view-test.sock >/tmp/view.toml
kill "$activator"; wait "$activator" 2>/dev/null || true
check "the view over the socket is the watcher's view" grep -q '^watcher_view = 1' /tmp/view.toml
check "...with the address and the door" sh -c "grep -q admin@example.org /tmp/view.toml && grep -q '^doors = \[\"ssh\"\]' /tmp/view.toml"
check "...and no knock" sh -c '! grep -qE "31337|4242|50505" /tmp/view.toml && ! grep -v "^#" /tmp/view.toml | grep -qE "sequence|secret|port"'
check "apply refuses the view" sh -c 'nfknock -c /tmp/view.toml apply 2>&1 | grep -q "the watcher.s view"; test "$(nfknock -c /tmp/view.toml apply >/dev/null 2>&1; echo $?)" = 2'
check "the sequence is not in debconf's config.dat" sh -c '! grep -rq 31337 /var/cache/debconf/config.dat'
check "config still 0600" test "$(mode_of $CONF)" = "600 root"

before_conf=$(sha256sum $CONF)
before_rules=$(nft list ruleset)
echo "nfknock nfknock/sequence password 1000/tcp 1001/tcp 1002/tcp" | debconf-set-selections
dpkg-reconfigure nfknock >/tmp/reconf.out 2>&1; reconf_status=$?
check "an invalid sequence is refused with its reason" grep -q "scanner" /tmp/reconf.out
check "...and dpkg-reconfigure fails" test "$reconf_status" != 0
check "...and the reason quotes no knock (apt's log keeps it)" sh -c '! grep -q "100[012]/tcp" /tmp/reconf.out'
check "...and debconf's world-readable config.dat keeps no reason" sh -c '! grep -rq "100[012]/tcp\|scanner" /var/cache/debconf/config.dat'
check "an invalid sequence changes no file" test "$(sha256sum $CONF)" = "$before_conf"
check "an invalid sequence changes no rule" test "$(nft list ruleset)" = "$before_rules"

# An upgrade (here: the same package again, which dpkg runs as one) keeps
# the live state: what was removed stays removed, what was loaded stays
# loaded, and an edit never applied is reported, not applied.
nfknock -q -c $CONF apply
nfknock -q remove
check "an upgrade after remove runs" dpkg -i /tmp/nfknock.deb
check "what was removed stays removed" no_rules
nfknock -q -c $CONF apply
nfknock -c $CONF config set door.ssh.sequence "41001/tcp 42003/udp 43005/tcp"
dpkg -i /tmp/nfknock.deb >/tmp/upgrade.out 2>&1
check "an upgrade keeps the loaded rules" sh -c 'nft list table inet nfknock | grep -q "udp dport 31337"'
check "an upgrade does not apply an edit" sh -c '! nft list ruleset | grep -q 41001'
check "an upgrade says the edit is not applied" grep -q "changed since it was applied" /tmp/upgrade.out
check "an upgrade keeps the edit in the config" test "$(nfknock -c $CONF config get door.ssh.sequence)" = "41001/tcp 42003/udp 43005/tcp"
check "the package recommends ipset (every iptables apply needs it)" sh -c 'dpkg-deb -f /tmp/nfknock.deb Recommends | grep -qw ipset'
check "starting nftables.service starts nfknock.service" test -L /etc/systemd/system/nftables.service.wants/nfknock.service

check "dpkg --purge runs" dpkg --purge nfknock
check "purge leaves no rule" no_rules
check "purge leaves no file" sh -c '! test -e /etc/nfknock && ! test -e /etc/modprobe.d/nfknock.conf && ! test -e /var/lib/nfknock && ! test -e /usr/bin/nfknock && ! test -e /usr/lib/systemd/system/nfknock.service'
check "purge leaves no unit link" sh -c '! find /etc/systemd -name "nfknock*" | grep -q .'
check "purge forgets the debconf answers" sh -c '! debconf-show nfknock 2>/dev/null | grep -q nfknock/'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
