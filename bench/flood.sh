# State under a flood: spoofed first knocks (hping3 --rand-source) at door
# 1's first knock port. How many sources the kernel holds mid-sequence, the
# kernel memory a source costs, and whether a legitimate knock gets through
# during the flood and after it. Both backends. Sourced by bench/run.sh.

# Kernel memory in KiB that sets and lists live in: slab + vmalloc.
kernel_kib() { awk '$1 == "Slab:" || $1 == "VmallocUsed:" { s += $2 } END { print s }' /proc/meminfo; }

# Sources mid-sequence at stage 1 of door 1, IPv4, as `nfknock status --json` sees them.
stage1_sources() {
    on srv "$NFK" -c "$1" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(sum(1 for d in s["doors"] for m in d["in_progress"] if m.get("stage") == 1))'
}

# Does a legitimate knock from the client open door 1? "opened" or "closed".
legit_knock() {
    local port; port=$(door_port 1)
    if on cli "$LAT" 192.0.2.1 "${port%/tcp}" 1 0 $(door_sequence 1) | grep -qv timeout; then
        echo opened
    else
        echo closed
    fi
}

bench_flood() {
    local secs=$(( smoke ? 1 : 5 ))
    local port; port=$(door_port 1)
    on srv socat TCP-LISTEN:"${port%/tcp}",fork,reuseaddr SYSTEM:true & local listener=$!
    # Spoofed sources must reach the rules: no reverse-path filter here.
    on srv sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
    local first; first=$(door_sequence 1); first=${first%%/*}
    local -a rows=()
    local backend
    for backend in nftables iptables; do
        say "flood, $backend"
        local cfg; cfg=$(config "$tmp/flood-$backend.toml" "$backend" guard 1)
        srv_flush
        on srv "$NFK" -q -c "$cfg" apply --no-persist
        local k0; k0=$(kernel_kib)
        # The flood outlasts the measurement and the knock made during it.
        on cli timeout $((secs + 4)) hping3 -q --flood --rand-source -S -p "$first" 192.0.2.1 >/dev/null 2>&1 &
        local flood=$!
        sleep "$secs"
        local held k1 during
        k1=$(kernel_kib); held=$(stage1_sources "$cfg")
        during=$(legit_knock)
        wait $flood 2>/dev/null || true
        # Stage 1 expires sequence_timeout (5 s) after the last knock.
        sleep 6
        local after; after=$(legit_knock)
        local per
        per=$(awk -v a="$k0" -v b="$k1" -v n="$held" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "n/a" }')
        rows+=("| $backend | $held | $per | $during | $after |")
    done
    kill $listener 2>/dev/null || true
    srv_flush

    echo "## State under a flood"
    echo
    echo "hping3 sends SYNs from random spoofed IPv4 sources to door 1's first knock port for $secs s,"
    echo "as fast as it can. Sources held: stage-1 sources \`nfknock status --json\` reports at the end of"
    echo "the flood. Memory: growth of the kernel's slab and vmalloc memory over the flood, per source"
    echo "held (the whole machine's figure, so approximate). Then a legitimate client knocks while the"
    echo "flood still runs, and again 6 s after it stopped (\`sequence_timeout\` is 5 s)."
    echo
    echo "| backend | sources held | bytes a source | legitimate knock during the flood | after it |"
    echo "|---|---|---|---|---|"
    local r
    for r in "${rows[@]}"; do echo "$r"; done
    echo
}
