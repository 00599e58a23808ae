# shellcheck shell=bash
# shellcheck disable=SC2154 # smoke, tmp, NFK, LAT, CONN, STREAM: set by bench/run.sh
# The packet path: what the rules cost traffic that is not knocking.
# Established TCP throughput (iperf3) and the NEW-connection rate
# (examples/conn_rate.rs) from the client to two open services on the
# server (5201/tcp, 8080/tcp), IPv4, under each set of rules, as a ratio to
# no rules at all. Repetitions go round all the setups in turn, so a drift
# of the machine hits every setup alike. Sourced by bench/run.sh.

# packet_setup NAME: the server's rules for one column of the table.
packet_setup() {
    srv_flush
    case $1 in
        none) ;;
        conntrack)
            # What any stateful firewall pays: one conntrack rule and nothing else.
            on srv nft -f - <<'NFT'
table inet bench {
    chain input {
        type filter hook input priority filter;
        ct state established,related accept
    }
}
NFT
            ;;
        knockd) knockd_up ;;
        *)  # BACKEND-MODE-DOORS, e.g. nftables-guard-16
            local backend mode n
            IFS=- read -r backend mode n <<<"$1"
            on srv "$NFK" -q -c "$(config "$tmp/$1.toml" "$backend" "$mode" "$n" 5201/tcp 8080/tcp)" \
                apply --no-persist ;;
    esac
}
packet_label() {
    case $1 in
        none) echo "no rules (the limit here)" ;;
        conntrack) echo "one \`ct state established accept\` rule" ;;
        knockd) echo "knockd $(dpkg-query -W -f='${Version}' knockd) listening on eth0" ;;
        *) local backend mode n; IFS=- read -r backend mode n <<<"$1"
           echo "nfknock $mode, $backend, $n door(s)" ;;
    esac
}

bench_packet() {
    local reps=$(( smoke ? 1 : 5 )) secs=$(( smoke ? 1 : 3 ))
    local -a setups
    if ((smoke)); then
        setups=(none nftables-guard-1 knockd)
    else
        setups=(none conntrack)
        local b m n
        for b in nftables iptables; do for m in guard firewall; do for n in 1 16; do
            setups+=("$b-$m-$n")
        done; done; done
        setups+=(knockd)
    fi
    mkdir -p "$tmp/packet"
    on srv iperf3 -s -p 5201 >/dev/null 2>&1 &
    on srv "$CONN" serve 192.0.2.1:8080 </dev/null >/dev/null 2>&1 &
    sleep 0.5
    local r s
    for r in $(seq $reps); do
        for s in "${setups[@]}"; do
            say "packet path, repetition $r of $reps: $s"
            packet_setup "$s"
            # Connections first: knockd needs a while to digest the capture
            # of a throughput run, and new connections crawl meanwhile.
            on cli "$CONN" connect 192.0.2.1:8080 "$secs" 4 2>/dev/null | tail -n +2 >> "$tmp/packet/$s.conn"
            # Half-second intervals after the first (slow start).
            on cli iperf3 -c 192.0.2.1 -p 5201 -t "$secs" -i 0.5 -J | python3 -c '
import json, sys
for i in json.load(sys.stdin)["intervals"][1:]:
    print(i["sum"]["bits_per_second"])' >> "$tmp/packet/$s.tput"
            [ "$s" = knockd ] && knockd_down
        done
    done
    srv_flush

    local tput0 conn0
    tput0=$(median_of "$(stats < "$tmp/packet/none.tput")")
    conn0=$(median_of "$(stats < "$tmp/packet/none.conn")")
    echo "## Packet path"
    echo
    echo "Traffic that is not knocking, from the client to two open services on the server:"
    echo "established TCP throughput (iperf3, one stream) and NEW connections per second"
    echo "(\`examples/conn_rate.rs\`, 4 threads, handshake then reset), IPv4. Each setup gets $reps runs"
    echo "of ${secs} s of each, and the repetitions go round all setups in turn. Both tools report every"
    echo "half second; a cell is the median of those half-second rates, all runs together, but for"
    echo "each run's first (min–max of them beside it): this machine is a VM whose throughput dips"
    echo "now and then for a moment, whatever runs. Ratios are to no rules, from the same run."
    echo
    echo "| server's rules | throughput | ratio | new connections/s | ratio |"
    echo "|---|---|---|---|---|"
    for s in "${setups[@]}"; do
        local t c
        t=$(stats < "$tmp/packet/$s.tput"); c=$(stats < "$tmp/packet/$s.conn")
        read -r tm _ tmin tmax _ <<<"$t"; read -r cm _ cmin cmax _ <<<"$c"
        awk -v l="$(packet_label "$s")" -v tm="$tm" -v tmin="$tmin" -v tmax="$tmax" \
            -v cm="$cm" -v cmin="$cmin" -v cmax="$cmax" -v t0="$tput0" -v c0="$conn0" 'BEGIN {
            printf "| %s | %.1f Gbit/s (%.1f–%.1f) | %.3f | %.0f (%.0f–%.0f) | %.3f |\n",
                l, tm / 1e9, tmin / 1e9, tmax / 1e9, tm / t0, cm, cmin, cmax, cm / c0 }'
    done
    echo
}
