# shellcheck shell=bash
# shellcheck disable=SC2154 # smoke, tmp, NFK, RULE_COST: set by bench/run.sh
# The packet path: what the rules cost traffic that is not knocking, as a
# fraction of what a NEW connection and an established round trip cost
# under the stateful baseline (one conntrack rule), IPv4.
#
# Measured against a twin: a second server namespace (ref) beside srv, on
# its own veth pair to the client, holds the baseline while srv holds the
# setup, and the client (examples/rule_cost.rs) times one connection (or
# round trip) to each in turn. On this shared virtual machine the speed of
# everything drifts by tens of percent within seconds; two connections a
# few microseconds apart meet the same machine, so the drift cancels out
# of each pair, and rates measured one after the other could not show a
# difference of 1 %. The twins swap roles every round, so that neither
# namespace's own luck (cache placement, hash seeds) counts for a setup.
# Sourced by bench/run.sh.

# The twin, on a second link of the client: ref (198.51.100.1).
packet_twin_up() {
    lab_host ref
    lab_link ref eth0 cli eth1
    lab_addr ref eth0 198.51.100.1/24
    lab_addr cli eth1 198.51.100.2/24
}
packet_addr() { case $1 in srv) echo 192.0.2.1 ;; ref) echo 198.51.100.1 ;; esac; }

# packet_setup HOST NAME: a host's rules for one row of the table.
packet_setup() {
    local host=$1
    host_flush "$host"
    case $2 in
        none) ;;
        conntrack)
            # What any stateful firewall pays: one conntrack rule and nothing else.
            on "$host" nft -f - <<'NFT'
table inet bench {
    chain input {
        type filter hook input priority filter;
        ct state established,related accept
    }
}
NFT
            ;;
        conntrack-iptables)
            # The same rule written with iptables (iptables-nft, which counts
            # every rule that matches): what an iptables host already pays.
            on "$host" iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT ;;
        knockd) knockd_up "$host" ;;
        # A variant of nfknock's rules, to time a change before making it:
        # SETUP+NAME runs bench/variants/NAME.sh on the host after SETUP.
        *+*) packet_setup "$host" "${2%+*}"
             on "$host" bash "bench/variants/${2##*+}.sh" ;;
        *)  # BACKEND-MODE-DOORS, e.g. nftables-guard-16
            local backend mode n
            IFS=- read -r backend mode n <<<"$2"
            on "$host" "$NFK" -q -c "$(config "$tmp/$2.toml" "$backend" "$mode" "$n" 8080/tcp 8081/tcp)" \
                apply --no-persist ;;
    esac
}
packet_label() {
    case $1 in
        *+*) echo "$(packet_label "${1%+*}") + bench/variants/${1##*+}.sh" ;;
        none) echo "no rules at all" ;;
        conntrack) echo "the baseline itself (the twins alike: the noise here)" ;;
        conntrack-iptables) echo "the baseline written as an iptables rule" ;;
        knockd) echo "knockd $(dpkg-query -W -f='${Version}' knockd) listening on eth0" ;;
        *) local backend mode n; IFS=- read -r backend mode n <<<"$1"
           echo "nfknock $mode, $backend, $n door(s)" ;;
    esac
}

bench_packet() {
    local reps=$(( smoke ? 2 : 8 )) secs=$(( smoke ? 1 : 3 ))
    local -a setups
    if ((smoke)); then
        setups=(conntrack conntrack-iptables none nftables-guard-1 iptables-guard-1 knockd)
    else
        setups=(conntrack conntrack-iptables none)
        local b m n
        for b in nftables iptables; do for m in guard firewall; do for n in 1 16; do
            setups+=("$b-$m-$n")
        done; done; done
        setups+=(knockd)
    fi
    # PACKET_SETUPS="conntrack iptables-guard-1 ..." measures only those
    # (and PACKET_ROUNDS that many rounds): to try a change to the rules.
    [ -n "${PACKET_SETUPS:-}" ] && read -ra setups <<<"$PACKET_SETUPS"
    reps=${PACKET_ROUNDS:-$reps}
    packet_twin_up
    mkdir -p "$tmp/packet"
    # The client on a core of its own; both servers' accepting and echoing
    # on the other. The kernel handles each packet on the sending core.
    local client_cpu=$(( $(nproc) - 1 ))
    local h
    for h in srv ref; do
        on "$h" taskset -c 0 "$RULE_COST" serve 0.0.0.0:8080 </dev/null >/dev/null 2>&1 &
    done
    sleep 0.5
    local load0; load0=$(cut -d' ' -f1 /proc/loadavg)
    local r s kind measured twin
    for r in $(seq $reps); do
        if ((r % 2)); then measured=srv twin=ref; else measured=ref twin=srv; fi
        for s in "${setups[@]}"; do
            say "packet path, round $r of $reps: $s on $measured"
            packet_setup "$twin" conntrack
            packet_setup "$measured" "$s"
            for kind in new established; do
                # Each line: the medians of one block of pairs, setup then
                # baseline, in nanoseconds.
                on cli nice -n -20 taskset -c "$client_cpu" "$RULE_COST" measure "$kind" \
                    "$(packet_addr "$measured")":8080 "$(packet_addr "$twin")":8080 "$secs" \
                    >> "$tmp/packet/$s.$kind"
            done
            [ "$s" = knockd ] && knockd_down "$measured"
        done
    done
    host_flush srv; host_flush ref
    local load1; load1=$(cut -d' ' -f1 /proc/loadavg)

    local base_new base_est
    base_new=$(cut -d' ' -f2 "$tmp/packet/conntrack.new" | median)
    base_est=$(cut -d' ' -f2 "$tmp/packet/conntrack.established" | median)
    echo "## Packet path"
    echo
    echo "What each server's rules cost traffic that is not knocking, IPv4, as a fraction of what it"
    echo "costs under the stateful baseline, one \`ct state established,related accept\` rule: a NEW"
    echo "connection (handshake, then a reset) and a one-byte round trip over an established one."
    echo "The baseline takes $(awk -v t="$base_new" 'BEGIN { printf "%.1f", t / 1000 }') µs a connection and $(awk -v t="$base_est" 'BEGIN { printf "%.1f", t / 1000 }') µs a round trip here."
    echo
    echo "Method (\`examples/rule_cost.rs\`): a twin server namespace with the baseline stands beside"
    echo "the measured one, and the client times one connection (or round trip) to each in turn, on"
    echo "a core of its own, where the kernel also runs both servers' rules for it. The ratio of the"
    echo "two medians of a block of 500 pairs is the setup's time over the baseline's; the table"
    echo "gives the median of all blocks, with the middle half of them, from $reps rounds of ${secs} s of"
    echo "each, the twins swapping roles every round. Pairs a few microseconds apart cancel the"
    echo "drift of this shared machine, which moves rates measured one after the other by tens of"
    echo "percent. A connection's time leaves out the server's accept and close (on the other core),"
    echo "so the NEW column overstates what the rules cost a whole connection. The first row, the"
    echo "baseline on both twins, shows how far from 1.000 noise alone goes. The machine's load"
    echo "average (1 min) was $load0 when this section started and $load1 when it ended."
    echo
    echo "| server's rules | NEW connection vs baseline | established round trip vs baseline | blocks |"
    echo "|---|---|---|---|"
    for s in "${setups[@]}"; do
        local pn pe n
        pn=$(packet_ratios "$s" new | quartiles)
        pe=$(packet_ratios "$s" established | quartiles)
        n=$(cat "$tmp/packet/$s.new" "$tmp/packet/$s.established" | wc -l)
        awk -v l="$(packet_label "$s")" -v pn="$pn" -v pe="$pe" -v n="$n" 'BEGIN {
            split(pn, a, " "); split(pe, b, " ")
            printf "| %s | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %d |\n",
                l, a[2], a[1], a[3], b[2], b[1], b[3], n }'
    done
    echo
    packet_iptables_own "${setups[@]}"
}

# Each block's ratio, setup over baseline: packet_ratios SETUP new|established
packet_ratios() { awk '{ print $1 / $2 }' "$tmp/packet/$1.$2"; }

# nfknock's own cost with iptables: each iptables row's median over the
# median of the baseline written as an iptables rule, which an iptables host
# pays without nfknock (printed only when both were measured).
packet_iptables_own() {
    [ -f "$tmp/packet/conntrack-iptables.new" ] || return 0
    local -a rows=()
    local s
    for s in "$@"; do [[ $s == iptables-* ]] && rows+=("$s"); done
    ((${#rows[@]})) || return 0
    local base_new base_est
    base_new=$(packet_ratios conntrack-iptables new | median)
    base_est=$(packet_ratios conntrack-iptables established | median)
    echo "With \`backend = \"iptables\"\`, nfknock's own cost is what it adds to the baseline written"
    echo "as an iptables rule (its row above): each row's median over that row's."
    echo
    echo "| server's rules | NEW connection vs the iptables baseline | established round trip vs it |"
    echo "|---|---|---|"
    for s in "${rows[@]}"; do
        echo "| $(packet_label "$s") | $(ratio "$(packet_ratios "$s" new | median)" "$base_new" 3) | $(ratio "$(packet_ratios "$s" established | median)" "$base_est" 3) |"
    done
    echo
}
