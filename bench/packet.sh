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

# The measured programs run at the highest CPU share (not a real-time
# priority: that starves ksoftirqd, and packets stall): the figures compare
# rulesets a few percent apart, and a compiler elsewhere on the machine
# must not decide them.
rt=(nice -n -20)

bench_packet() {
    local reps=$(( smoke ? 1 : 9 )) secs=$(( smoke ? 1 : 2 ))
    local -a setups
    if ((smoke)); then
        setups=(none conntrack nftables-guard-1 knockd)
    else
        setups=(none conntrack)
        local b m n
        for b in nftables iptables; do for m in guard firewall; do for n in 1 16; do
            setups+=("$b-$m-$n")
        done; done; done
        setups+=(knockd)
    fi
    mkdir -p "$tmp/packet"
    local load0; load0=$(cut -d' ' -f1 /proc/loadavg)
    on srv "${rt[@]}" iperf3 -s -p 5201 >/dev/null 2>&1 &
    on srv "${rt[@]}" "$CONN" serve 192.0.2.1:8080 </dev/null >/dev/null 2>&1 &
    sleep 0.5
    local r s
    for r in $(seq $reps); do
        for s in "${setups[@]}"; do
            say "packet path, repetition $r of $reps: $s"
            packet_setup "$s"
            # Connections first: knockd needs a while to digest the capture
            # of a throughput run, and new connections crawl meanwhile.
            # The first half second of each is left out (slow start).
            on cli "${rt[@]}" "$CONN" connect 192.0.2.1:8080 "$secs" 4 2>/dev/null | tail -n +2 > "$tmp/packet/$s.$r.conn"
            on cli "${rt[@]}" iperf3 -c 192.0.2.1 -p 5201 -t "$secs" -i 0.5 -J | python3 -c '
import json, sys
for i in json.load(sys.stdin)["intervals"][1:]:
    print(i["sum"]["bits_per_second"])' > "$tmp/packet/$s.$r.tput"
            cat "$tmp/packet/$s.$r.conn" >> "$tmp/packet/$s.conn"
            cat "$tmp/packet/$s.$r.tput" >> "$tmp/packet/$s.tput"
            [ "$s" = knockd ] && knockd_down
        done
        # Each setup against the stateful baseline of the same round, a few
        # seconds apart: a drift of the machine cancels out of the ratio.
        local c0 t0
        c0=$(median < "$tmp/packet/conntrack.$r.conn")
        t0=$(median < "$tmp/packet/conntrack.$r.tput")
        for s in "${setups[@]}"; do
            echo "$(median < "$tmp/packet/$s.$r.conn") $c0" | awk '{ print $1 / $2 }' >> "$tmp/packet/$s.pconn"
            echo "$(median < "$tmp/packet/$s.$r.tput") $t0" | awk '{ print $1 / $2 }' >> "$tmp/packet/$s.ptput"
        done
    done
    srv_flush
    local load1; load1=$(cut -d' ' -f1 /proc/loadavg)

    local tput0 conn0
    tput0=$(median < "$tmp/packet/none.tput")
    conn0=$(median < "$tmp/packet/none.conn")
    echo "## Packet path"
    echo
    echo "Traffic that is not knocking, from the client to two open services on the server:"
    echo "established TCP throughput (iperf3, one stream) and NEW connections per second"
    echo "(\`examples/conn_rate.rs\`, 4 threads, handshake then reset), IPv4. Each setup gets $reps runs"
    echo "of ${secs} s of each, and the repetitions go round all setups in turn; the measured programs"
    echo "run at the highest CPU share (\`nice -n -20\`), so other work on the machine mostly waits. Both tools report"
    echo "every half second; a rate is the median of those half-second rates (each run's first left"
    echo "out), all runs together, with the lowest and highest beside it. \"vs none\" is the ratio to no"
    echo "rules. \"vs conntrack\" is what nfknock adds to a stateful firewall: in each round, the setup's"
    echo "rate over the conntrack-only rate of the same round; the median of the $reps rounds, with the"
    echo "middle half of them beside it. The machine's load average (1 min) was $load0 when this section"
    echo "started and $load1 when it ended (the measured programs keep about 2 busy on these $(nproc) cores)."
    echo
    echo "| server's rules | throughput | vs none | vs conntrack | new connections/s | vs none | vs conntrack |"
    echo "|---|---|---|---|---|---|---|"
    for s in "${setups[@]}"; do
        local t c pt pc
        t=$(stats < "$tmp/packet/$s.tput"); c=$(stats < "$tmp/packet/$s.conn")
        pt=$(quartiles < "$tmp/packet/$s.ptput"); pc=$(quartiles < "$tmp/packet/$s.pconn")
        read -r tm _ tmin tmax _ <<<"$t"; read -r cm _ cmin cmax _ <<<"$c"
        awk -v l="$(packet_label "$s")" -v tm="$tm" -v tmin="$tmin" -v tmax="$tmax" \
            -v cm="$cm" -v cmin="$cmin" -v cmax="$cmax" -v t0="$tput0" -v c0="$conn0" \
            -v pt="$pt" -v pc="$pc" 'BEGIN {
            split(pt, a, " "); split(pc, b, " ")
            printf "| %s | %.1f Gbit/s (%.1f–%.1f) | %.3f | %.3f (%.3f–%.3f) | %.0f (%.0f–%.0f) | %.3f | %.3f (%.3f–%.3f) |\n",
                l, tm / 1e9, tmin / 1e9, tmax / 1e9, tm / t0, a[2], a[1], a[3],
                cm, cmin, cmax, cm / c0, b[2], b[1], b[3] }'
    done
    echo
}
