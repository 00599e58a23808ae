#!/bin/bash
# Makes sure a systemd-journald answers on /run/systemd/journal. Without
# systemd as PID 1 (CI, containers) journald runs fine on its own. The socket
# file alone proves nothing: a journald that was killed leaves it behind, and
# connecting to it is then refused. So ask the journal itself, and start one
# journald only: two would split /dev/kmsg between them.
#
#   bash scripts/journald.sh [--print-started]
#
# --print-started prints the PID of the journald it started, if it did, so
# that the caller can stop it when done.
set -euo pipefail
print_started=0; [ "${1:-}" = --print-started ] && print_started=1

answers() { systemd-cat -t nfknock-probe true 2>/dev/null; }

if ! answers; then
    # A zombie of a killed journald is not one (state Z is left out).
    if pgrep -x -r D,R,S systemd-journal >/dev/null; then
        echo "journald.sh: a systemd-journald runs but does not answer" >&2
        exit 1
    fi
    mkdir -p /run/systemd/journal
    # Its own session, so that it outlives the script that started it.
    setsid /lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
    started=$!
    for _ in $(seq 100); do answers && break; sleep 0.1; done
    answers || { echo "journald.sh: systemd-journald did not start" >&2; exit 1; }
    ((print_started)) && echo "$started"
fi
[ -e /dev/log ] || ln -s /run/systemd/journal/dev-log /dev/log
