# shellcheck shell=bash
# shellcheck disable=SC2154 # smoke, tmp, NFK, LAT, STREAM: set by bench/run.sh
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

# How many of N legitimate knocks from the client open door 1: "K of N".
legit_knocks() {
    local port; port=$(door_port 1)
    local opened knocks
    door_knocks 1 knocks
    opened=$(on cli "$LAT" 192.0.2.1 "${port%/tcp}" "$1" 1100 "${knocks[@]}" | grep -vc timeout || true)
    echo "$opened of $1 opened"
}

# Bytes a source takes in a full knock-state set of the family: fills
# nfknock's stage-1 set of door 1 with nft alone (no packets, so no
# conntrack entries), measures, empties it. set_bytes CONFIG FAMILY
set_bytes() {
    local family=$2 set n=65536 k0 k1
    set=stage1_d1_$family
    on srv "$NFK" -q -c "$1" apply --no-persist
    {
        echo "add element inet nfknock $set {"
        if [ "$family" = v4 ]; then
            seq 0 $((n - 1)) | awk '{ printf "198.18.%d.%d timeout 60s,\n", int($1 / 256), $1 % 256 }'
        else
            seq 0 $((n - 1)) | awk '{ printf "2001:db8:ff::%x timeout 60s,\n", $1 }'
        fi
        echo "}"
    } > "$tmp/fill.nft"
    k0=$(kernel_kib)
    on srv nft -f "$tmp/fill.nft"
    k1=$(kernel_kib)
    on srv nft flush set inet nfknock "$set"
    awk -v a="$k0" -v b="$k1" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}

# The bytes a source takes in a full set, IPv4 and IPv6: "V4 V6". Run on
# a quiet machine, before the other sections.
flood_set_memory() {
    say "flood: a full set's memory"
    local cfg; cfg=$(config "$tmp/flood-nftables.toml" nftables guard 1)
    echo "$(set_bytes "$cfg" v4) $(set_bytes "$cfg" v6)"
    srv_flush
}

# bench_flood "V4 V6": runs last, since the conntrack entries of a spoofed
# flood linger for minutes and would slow what came after.
bench_flood() {
    local v4_bytes v6_bytes
    read -r v4_bytes v6_bytes <<<"$1"
    # One spoofed SYN every 20 µs asked (hping3 manages fewer) fills a set
    # (65,536, each source kept 5 s) within the 3 s, and leaves conntrack's
    # table (262,144 here) short of full when the nftables knock is made:
    # what is measured is the set. hping3 --flood fills conntrack in seconds.
    local secs=3
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
        on cli timeout $((secs + 7)) hping3 -q -i u20 --rand-source -S -p "$first" 192.0.2.1 >/dev/null 2>&1 &
        local flood=$!
        sleep "$secs"
        local held k1 during ct
        k1=$(kernel_kib); held=$(stage1_sources "$cfg")
        during=$(legit_knocks 2)
        ct="$(on srv cat /proc/sys/net/netfilter/nf_conntrack_count) / $(on srv cat /proc/sys/net/netfilter/nf_conntrack_max)"
        wait $flood 2>/dev/null || true
        # Stage 1 expires sequence_timeout (5 s) after the last knock.
        sleep 6
        local after; after=$(legit_knocks 2)
        local grew
        grew=$(awk -v a="$k0" -v b="$k1" 'BEGIN { printf "%.1f MiB", (b - a) / 1024 }')
        rows+=("| $backend | $held | $grew | $ct | $during | $after |")
    done
    srv_flush

    echo "## State under a flood"
    echo
    echo "A full nftables knock-state set (65,536 sources, filled with \`nft add element\`, no packets):"
    echo "**$v4_bytes bytes a source for IPv4, $v6_bytes for IPv6**, hash table included (growth of the kernel's"
    echo "slab and vmalloc memory, the whole machine's figure, so approximate)."
    echo
    echo "Then hping3 sends SYNs from random spoofed IPv4 sources to door 1's first knock port, one"
    echo "every 20 µs as asked (\`-i u20\`; it sends fewer), for $secs s. Sources held: stage-1 sources \`nfknock status --json\` reports at"
    echo "the end of the flood. Kernel memory: growth over the flood, all of it (sets, and the"
    echo "conntrack entry every spoofed SYN gets). Then a legitimate client knocks twice while the"
    echo "flood still runs (a full set frees a slot whenever an element expires, so a knock may win"
    echo "one), and twice again 6 s after it stopped (\`sequence_timeout\` is 5 s). Conntrack: entries"
    echo "in the server's table after that knock, and its limit: a full table drops every new flow,"
    echo "knocks included, whatever the rules (a longer flood gets there here)."
    echo
    echo "| backend | sources held | kernel memory | conntrack entries / max | legitimate knocks during the flood | after it |"
    echo "|---|---|---|---|---|---|"
    local r
    for r in "${rows[@]}"; do echo "$r"; done
    echo
}
