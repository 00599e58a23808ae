# The watcher: from a knock to the mail a real SMTP server accepts, and the
# watcher's CPU and memory idle and under a sustained load. The rules log in
# the server namespace, journald reads the kernel log, `nfknock watch` mails
# bench/smtp_recorder.py on loopback. Sourced by bench/run.sh.

# CPU seconds (user + system) of process PID so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# A field of /proc/PID/status in MiB: status_mib PID VmRSS
status_mib() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# Latencies (µs) of the mails in MAILS set against the knocks in SENT, in
# order, from line FIRST of each on: latencies SENT MAILS FIRST
latencies() { paste -d' ' <(tail -n +"$3" "$1") <(tail -n +"$3" "$2" | cut -d' ' -f1) | awk 'NF == 2 { print $2 - $1 }'; }

bench_watch() {
    local reps_lat=$(( smoke ? 5 : 100 )) idle=$(( smoke ? 2 : 60 ))
    local load_rate=50 load_secs=$(( smoke ? 2 : 30 ))
    local port prefix="nfkb$$" cfg=$tmp/watch.toml
    port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    config "$cfg" nftables guard 1 > /dev/null
    cat >> "$cfg" <<CFG
[log]
prefix = "$prefix"
[notify]
events = ["knock"]
email_to = ["admin@example.org"]
email_from = "nfknock@example.org"
smtp = "smtp://127.0.0.1:$port"
whois = false
reverse_dns = false
max_mails_per_hour = 1000000
CFG
    on srv "$NFK" -q -c "$cfg" apply --no-persist
    /usr/bin/python3 bench/smtp_recorder.py "$port" "$tmp/mails" & local smtp=$!
    for _ in $(seq 50); do /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break; sleep 0.1; done
    STATE_DIRECTORY=$tmp/watch-state "$NFK" -q -c "$cfg" watch & local watcher=$!
    sleep 1
    touch "$tmp/mails"

    say "watcher: latency, $reps_lat knocks, 5 a second"
    on cli "$STREAM" 192.0.2.1 5 "$reps_lat" $(door_sequence 1) > "$tmp/sent"
    local want=$reps_lat
    for _ in $(seq 100); do [ "$(wc -l < "$tmp/mails")" -ge "$want" ] && break; sleep 0.1; done
    local lat; lat=$(latencies "$tmp/sent" "$tmp/mails" 1 | stats)
    local got_lat; got_lat=$(wc -l < "$tmp/mails")

    say "watcher: idle for $idle s"
    local c0 c1 rss_idle
    c0=$(cpu_seconds $watcher); sleep "$idle"; c1=$(cpu_seconds $watcher)
    local cpu_idle; cpu_idle=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
    rss_idle=$(status_mib $watcher VmRSS)

    say "watcher: $load_rate knocks a second for $load_secs s"
    local count=$((load_rate * load_secs)) before; before=$(wc -l < "$tmp/mails")
    c0=$(cpu_seconds $watcher)
    on cli "$STREAM" 192.0.2.1 $load_rate $count $(door_sequence 1) > "$tmp/sent-load"
    want=$((before + count))
    for _ in $(seq 300); do [ "$(wc -l < "$tmp/mails")" -ge "$want" ] && break; sleep 0.1; done
    c1=$(cpu_seconds $watcher)
    local cpu_load; cpu_load=$(awk -v a="$c0" -v b="$c1" -v s="$load_secs" 'BEGIN { printf "%.2f", b - a }')
    local got_load=$(( $(wc -l < "$tmp/mails") - before ))
    local lat_load; lat_load=$(latencies "$tmp/sent-load" "$tmp/mails" $((before + 1)) | stats)
    local rss_load hwm
    rss_load=$(status_mib $watcher VmRSS); hwm=$(status_mib $watcher VmHWM)
    kill $watcher $smtp; wait $watcher $smtp 2>/dev/null || true
    srv_flush

    echo "## Watcher"
    echo
    echo "From the moment the last knock of a sequence leaves the client to the moment the SMTP"
    echo "server (aiosmtpd on loopback, \`bench/smtp_recorder.py\`) accepts its mail: kernel log,"
    echo "journald, \`nfknock watch\` (release build, no whois, no reverse DNS), SMTP."
    echo
    echo "| what | median | p99 | min / max | n |"
    echo "|---|---|---|---|---|"
    row "knock to mail, 5 knocks a second" "$lat" 1000 ms
    row "knock to mail, $load_rate knocks a second" "$lat_load" 1000 ms
    echo
    echo "| watcher | CPU | RSS | mails / knocks |"
    echo "|---|---|---|---|"
    echo "| idle for $idle s | $cpu_idle s | $rss_idle MiB | |"
    echo "| $load_rate knocks a second for $load_secs s | $cpu_load s ($(awk -v c="$cpu_load" -v s="$load_secs" 'BEGIN { printf "%.1f", 100 * c / s }')% of a core) | $rss_load MiB (peak $hwm MiB) | $got_load / $count |"
    echo "| the latency run | | | $got_lat / $reps_lat |"
    echo
}
