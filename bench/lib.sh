# shellcheck shell=bash
# Shared by the benchmark sections (sourced by bench/run.sh): the lab, the
# configs, statistics and table rows. One definition of each.
#
# The lab (scripts/lab.sh): network namespaces srv (192.0.2.1, 2001:db8::1)
# and cli (192.0.2.2, 2001:db8::2) on one veth pair. Nothing leaves them.

source scripts/lab.sh
now_ns() { date +%s%N; }
say() { echo "bench: $*" >&2; }

lab_up() {
    lab_init "nfkbench$$"
    lab_host srv; lab_host cli
    lab_link srv eth0 cli eth0
    lab_addr srv eth0 192.0.2.1/24 2001:db8::1/64
    lab_addr cli eth0 192.0.2.2/24 2001:db8::2/64
    # Door 1's service, for every section that opens the door. Whatever is
    # started in the namespaces ends with them (lab_down, at exit).
    local port; port=$(door_port 1)
    on srv socat TCP-LISTEN:"${port%/tcp}",fork,reuseaddr SYSTEM:true </dev/null >/dev/null 2>&1 &
    sleep 0.3
}

# spawn_on HOST CMD...: CMD in the background, with $! its own PID (not
# that of a subshell), so that it can be stopped and measured.
spawn_on() { local host=$1; shift; ip netns exec "$(lab_ns "$host")" "$@" & }

# Clears a host's firewall: nfknock's rules, iptables rules, the lot.
host_flush() {
    on "$1" "$NFK" -q remove --no-persist 2>/dev/null || true
    on "$1" nft flush ruleset
    on "$1" ipset destroy 2>/dev/null || true   # a variant's (bench/variants/)
}
srv_flush() { host_flush srv; }

# The sequence of door N (1-based), and its port.
door_sequence() { echo "$((30000 + $1 * 10))/tcp $((40000 + $1 * 10))/udp $((50000 + $1 * 10))/tcp"; }
# The same as words, into the array named by $2: door_knocks N ARRAY
door_knocks() { read -ra "$2" <<<"$(door_sequence "$1")"; }
door_port() { echo "$((2000 + $1))/tcp"; }

# A config of N doors: config FILE BACKEND MODE N [OPEN_PORT...]. Door
# timeouts are short so that latency runs can wait for a door to close.
# `[allow]` keeps its defaults (private and link-local networks), as on
# most hosts; the lab's TEST-NET addresses are not among them.
config() {
    local f=$1 backend=$2 mode=$3 n=$4; shift 4
    {
        echo "backend = \"$backend\""
        echo "mode = \"$mode\""
        echo 'sequence_timeout = "5s"'
        echo 'door_timeout = "1s"'
        for i in $(seq 1 "$n"); do
            local seq
            seq=$(door_sequence "$i" | sed 's/[^ ]*/"&"/g; s/ /, /g')
            printf '[[door]]\nname = "d%d"\nport = "%s"\nsequence = [%s]\n' "$i" "$(door_port "$i")" "$seq"
        done
        if [ "$mode" = firewall ]; then
            local open
            open=$(printf '"%s", ' "$@")
            printf '[firewall]\nopen = [%s]\n' "${open%, }"
        fi
    } > "$f"
    echo "$f"
}

# median p99 min max n of the numbers on stdin ("n/a" if none)
stats() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
    p = int(NR * 0.99 + 0.5); if (p < 1) p = 1; if (p > NR) p = NR
    printf "%s %s %s %s %d\n", v[int((NR + 1) / 2)], v[p], v[1], v[NR], NR }'; }

# A table row: row LABEL "median p99 min max n" DIVISOR UNIT
row() {
    local med p99 min max n
    read -r med p99 min max n <<<"$2"
    awk -v l="$1" -v a="$med" -v b="$p99" -v c="$min" -v d="$max" -v n="$n" -v k="$3" -v u="$4" \
        'BEGIN { if (a == "n/a") { printf "| %s | n/a | | | 0 |\n", l; exit }
                 printf "| %s | %.2f %s | %.2f %s | %.2f / %.2f %s | %d |\n", l, a/k, u, b/k, u, c/k, d/k, u, n }'
}

# The median of "median p99 min max n".
median_of() { echo "${1%% *}"; }
# The median of the numbers on stdin.
median() { median_of "$(stats)"; }

# a / b with DIGITS places (default 2), or n/a: ratio A B [DIGITS]
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" \
    'BEGIN { if (b > 0 && a != "n/a") printf("%." d "f", a / b); else printf "n/a" }'; }

# The first quartile, median and third quartile of the numbers on stdin.
quartiles() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a n/a n/a"; exit }
    q1 = int((NR + 3) / 4); q3 = NR + 1 - q1
    printf "%s %s %s\n", v[q1], v[int((NR + 1) / 2)], v[q3] }'; }
