#!/bin/bash
# Runs a command and fails when it leaves something behind: a process it
# started, a network namespace, or a changed machine setting.
#
#   bash tests/hygiene.sh [--ctrl-c-at TEXT | --kill-at TEXT] CMD...
#
# Processes are found by a tag in the environment, which every child, grand-
# child and daemon of CMD inherits (ip netns exec, setsid and fork keep it).
# Namespaces: CMD runs in a mount namespace of its own whose /run/netns
# starts empty, so whatever is there when it ends, it left. As soon as TEXT
# appears in its output, --ctrl-c-at sends SIGINT to CMD's whole process
# group, as Ctrl-C in a terminal does, and --kill-at sends SIGTERM to CMD
# alone, as `kill PID` does; either way it must still leave nothing.
set -euo pipefail

if [ "${1:-}" != --inside ]; then
    exec unshare --mount --propagation private bash "$0" --inside "$@"
fi
shift
interrupt='' signal=''
case ${1:-} in
    --ctrl-c-at) signal=INT interrupt=$2; shift 2 ;;
    --kill-at) signal=TERM interrupt=$2; shift 2 ;;
esac

mkdir -p /run/netns
mount -t tmpfs -o mode=0755 nfknock-hygiene /run/netns
settings=(net.netfilter.nf_log_all_netns net.ipv4.ip_forward net.ipv6.conf.all.forwarding)
before=$(sysctl "${settings[@]}")
tag=nfknock-hygiene-$$-$SRANDOM

rc=0
if [ -n "$interrupt" ]; then
    out=$(mktemp)
    # A process group of its own, as a terminal's foreground job has; env
    # --default-signal, since a background job starts with SIGINT ignored.
    # setsid execs, so $pid is CMD's own.
    NFKNOCK_HYGIENE=$tag setsid env --default-signal=INT "$@" </dev/null >"$out" 2>&1 & pid=$!
    until grep -qF -- "$interrupt" "$out"; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ "$signal" = INT ]; then kill -INT -- -"$pid"; else kill -TERM "$pid"; fi 2>/dev/null || true
    wait "$pid" || rc=$?
    cat "$out"; rm -f "$out"
    if [ "$rc" -eq 0 ]; then
        echo "hygiene: $* ended before \"$interrupt\" or ignored the interrupt" >&2
        rc=1
    else
        echo "hygiene: SIG$signal at \"$interrupt\" (exit $rc)"
        rc=0
    fi
else
    NFKNOCK_HYGIENE=$tag "$@" || rc=$?
fi

problems=0
sleep 0.5  # what was sent a signal has a moment to go
left=$(grep -lsxz "NFKNOCK_HYGIENE=$tag" /proc/[0-9]*/environ | cut -d/ -f3 || true)
for p in $left; do
    [ "$p" != "$$" ] || continue
    echo "hygiene: left running: $p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" >&2
    kill -KILL "$p" 2>/dev/null || true
    problems=1
done
if [ -n "$(ls -A /run/netns)" ]; then
    echo "hygiene: left network namespaces: $(ls /run/netns | tr '\n' ' ')" >&2
    for ns in /run/netns/*; do ip netns del "${ns##*/}" 2>/dev/null || true; done
    problems=1
fi
after=$(sysctl "${settings[@]}")
if [ "$before" != "$after" ]; then
    echo "hygiene: settings changed:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    problems=1
fi
if ((problems)); then
    echo "hygiene: FAILED: $*" >&2
    exit 1
fi
echo "hygiene: $* left no process, namespace or setting behind"
exit "$rc"
