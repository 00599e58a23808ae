# shellcheck shell=bash
# shellcheck disable=SC2154 # smoke, tmp, NFK, LAT, STREAM: set by bench/run.sh
# Knock to open (nfknock on both backends vs knockd) and the knock client's
# wall time (nfknock knock vs knockd's knock). Sourced by bench/run.sh.

# knockd with the usual start_command, for door 1: knockd_up [HOST],
# knockd_down [HOST] (srv by default; bench/packet.sh passes the host).
# shellcheck disable=SC2120
knockd_up() {
    local host=${1:-srv} port seq
    port=$(door_port 1); port=${port%/tcp}
    seq=$(door_sequence 1 | sed 's|/|:|g; s/ /,/g')
    cat > "$tmp/knockd.conf" <<CONF
[options]
	logfile = $tmp/knockd.log
	pidfile = $tmp/knockd.pid
[open]
	sequence      = $seq
	seq_timeout   = 5
	tcpflags      = syn
	start_command = /usr/sbin/iptables -I INPUT -s %IP% -p tcp --dport $port -j ACCEPT
	cmd_timeout   = 1
	stop_command  = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport $port -j ACCEPT
CONF
    # The door is closed to everyone else, as under nfknock.
    on "$host" iptables -A INPUT -p tcp --dport "$port" -j REJECT --reject-with tcp-reset
    on "$host" knockd -d -i eth0 -c "$tmp/knockd.conf"
    sleep 1
}
# shellcheck disable=SC2120
knockd_down() {
    local host=${1:-srv}
    # By its PID, never by name. knockd lags behind its capture after heavy
    # traffic; what is measured next must not share the cores with it.
    local pid; pid=$(cat "$tmp/knockd.pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    on "$host" iptables -F INPUT
}

bench_knock() {
    local reps_lat=$(( smoke ? 3 : 100 )) reps_client=$(( smoke ? 3 : 30 ))
    local port; port=$(door_port 1); port=${port%/tcp}
    local -A lat
    local knocks; door_knocks 1 knocks
    for backend in nftables iptables; do
        say "knock to open, nfknock $backend"
        on srv "$NFK" -q -c "$(config "$tmp/$backend.toml" $backend guard 1)" apply --no-persist
        lat[$backend]=$(on cli "$LAT" 192.0.2.1 "$port" $reps_lat 1300 "${knocks[@]}" | grep -v timeout | stats)
        srv_flush
    done
    say "knock to open, knockd"
    knockd_up
    lat[knockd]=$(on cli "$LAT" 192.0.2.1 "$port" $reps_lat 1300 "${knocks[@]}" | grep -v timeout | stats)
    knockd_down

    say "knock clients"
    local four="41001/tcp 42003/udp 43005/tcp 44007/udp"
    local four_knockd="41001:tcp 42003:udp 43005:tcp 44007:udp"
    local -a clients=()
    client() { # label, command...
        local label=$1; shift
        clients+=("$label|$(for _ in $(seq $reps_client); do
            local s e; s=$(now_ns); on cli "$@" >/dev/null 2>&1; e=$(now_ns); echo $(( (e - s) / 1000 ))
        done | stats)")
    }
    client "nfknock knock, default delay (20 ms)" "$NFK" knock 192.0.2.1 $four
    client "knockd's knock, default delay (0)" knock 192.0.2.1 $four_knockd
    client "nfknock knock --delay 0ms" "$NFK" knock --delay 0ms 192.0.2.1 $four
    client "knockd's knock -d 20 (20 ms)" knock -d 20 192.0.2.1 $four_knockd

    echo "## Knock to open"
    echo
    echo "From the last knock packet to the first connection the door accepts, the same client"
    echo "(\`examples/knock_latency.rs\`) for all three; knockd runs the usual \`iptables -I\` start_command."
    echo "A repetition waits 1.3 s for the door to close again before the next."
    echo
    echo "| server | median | p99 | min / max | n |"
    echo "|---|---|---|---|---|"
    row "nfknock, nftables" "${lat[nftables]}" 1000 ms
    row "nfknock, iptables" "${lat[iptables]}" 1000 ms
    row "knockd $(dpkg-query -W -f='${Version}' knockd) + iptables" "${lat[knockd]}" 1000 ms
    echo
    echo "knockd / nfknock (nftables), medians: **$(ratio "$(median_of "${lat[knockd]}")" "$(median_of "${lat[nftables]}")")x**."
    echo
    echo "## Knock client"
    echo
    echo "Wall time of a 4-knock sequence, process start to exit."
    echo
    echo "| client | median | p99 | min / max | n |"
    echo "|---|---|---|---|---|"
    local c
    for c in "${clients[@]}"; do row "${c%%|*}" "${c#*|}" 1000 ms; done
    echo
}
