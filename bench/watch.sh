# shellcheck shell=bash
# shellcheck disable=SC2154 # smoke, tmp, NFK, LAT, STREAM: set by bench/run.sh
# The watcher: from a knock to the mail a real SMTP server accepts, and the
# watcher's CPU and memory idle and under a sustained load. The rules log in
# the server namespace, journald reads the kernel log, `nfknock watch` mails
# bench/smtp_recorder.py on loopback. Sourced by bench/run.sh.

# CPU seconds (user + system) of process PID so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# A field of /proc/PID/status in MiB: status_mib PID VmRSS
status_mib() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# Knocks the mails of the recorder's file account for, from line FIRST on:
# one a mail, or N for a digest of N.
accounted() { tail -n +"$2" "$1" | awk '/more nfknock events \(digest\)/ { n += $(NF - 4); next } { n++ } END { print n + 0 }'; }
# Latencies (µs) of the mails set against the knocks, in order, from line
# FIRST of the mails on: latencies SENT MAILS FIRST
latencies() { paste -d' ' "$1" <(tail -n +"$3" "$2" | cut -d' ' -f1) | awk 'NF == 2 { print $2 - $1 }'; }
# Waits up to SECS for the mails from line FIRST on to account for N knocks.
wait_accounted() { # mails first n secs
    for _ in $(seq $(($4 * 10))); do [ "$(accounted "$1" "$2")" -ge "$3" ] && return; sleep 0.1; done
}

# watch_config FILE SMTP_PORT MAX_MAILS: door 1, logging with our prefix.
watch_config() {
    config "$1" nftables guard 1 > /dev/null
    cat >> "$1" <<CFG
[log]
prefix = "nfkb$$"
[notify]
events = ["knock"]
email_to = ["admin@example.org"]
email_from = "nfknock@example.org"
smtp = "smtp://127.0.0.1:$2"
whois = false
reverse_dns = false
max_mails_per_hour = $3
digest_delay = "10s"
CFG
}

bench_watch() {
    local reps_lat=$(( smoke ? 5 : 100 )) idle=$(( smoke ? 2 : 60 ))
    local rate=50 secs=$(( smoke ? 2 : 30 ))
    local port mails=$tmp/mails knocks
    door_knocks 1 knocks
    # The recorder and the watcher run in the server's namespace, the one
    # whose firewall logs: they end with it.
    port=2525
    watch_config "$tmp/watch-each.toml" "$port" 1000000
    watch_config "$tmp/watch-budget.toml" "$port" 20
    on srv "$NFK" -q -c "$tmp/watch-each.toml" apply --no-persist
    touch "$mails"
    spawn_on srv /usr/bin/python3 bench/smtp_recorder.py "$port" "$mails"; local smtp=$!
    for _ in $(seq 50); do on srv /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break; sleep 0.1; done
    local watcher
    start_watcher() { # config
        [ -z "${watcher:-}" ] || { kill "$watcher"; wait "$watcher" 2>/dev/null || true; }
        rm -rf "$tmp/watch-state"
        spawn_on srv env STATE_DIRECTORY="$tmp/watch-state" "$NFK" -q -c "$1" watch; watcher=$!
        sleep 1
    }
    # load LABEL: $rate knocks a second for $secs s; one row of the table.
    local -a loads=()
    load() {
        say "watcher: $1, $rate knocks a second for $secs s"
        local first=$(( $(wc -l < "$mails") + 1 )) c0 c1 n=$((rate * secs))
        c0=$(cpu_seconds "$watcher")
        on cli "$STREAM" 192.0.2.1 $rate $n "${knocks[@]}" > "$tmp/sent-load"
        # The budget's digest leaves digest_delay (10 s) after the first
        # event over it, and again for those that came meanwhile.
        wait_accounted "$mails" "$first" "$n" 90
        c1=$(cpu_seconds "$watcher")
        loads+=("| $1: $rate knocks a second for $secs s | $(awk -v a="$c0" -v b="$c1" -v n="$n" \
            'BEGIN { printf "%.2f s (%.2f ms a knock)", b - a, 1000 * (b - a) / n }') | $(status_mib "$watcher" VmRSS) MiB (peak $(status_mib "$watcher" VmHWM)) | $(accounted "$mails" "$first") / $n |")
    }

    start_watcher "$tmp/watch-each.toml"
    say "watcher: latency, $reps_lat knocks, 5 a second"
    on cli "$STREAM" 192.0.2.1 5 "$reps_lat" "${knocks[@]}" > "$tmp/sent"
    wait_accounted "$mails" 1 "$reps_lat" 20
    local lat; lat=$(latencies "$tmp/sent" "$mails" 1 | stats)
    local got_lat; got_lat=$(accounted "$mails" 1)

    say "watcher: idle for $idle s"
    local c0 c1; c0=$(cpu_seconds "$watcher"); sleep "$idle"; c1=$(cpu_seconds "$watcher")
    local idle_row
    idle_row="| idle for $idle s | $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f s", b - a }') | $(status_mib "$watcher" VmRSS) MiB | |"

    local first_each=$(( $(wc -l < "$mails") + 1 ))
    load "a mail for each knock"
    local lat_each; lat_each=$(latencies "$tmp/sent-load" "$mails" "$first_each" | stats)
    start_watcher "$tmp/watch-budget.toml"
    load "the default budget, 20 mails an hour, then digests"
    kill "$watcher" "$smtp"; wait "$watcher" "$smtp" 2>/dev/null || true
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
    row "knock to mail, $rate knocks a second, a mail for each" "$lat_each" 1000 ms
    echo
    echo "CPU and memory of the watcher (CPU: from the first knock until every knock is accounted"
    echo "for); the last column counts the knocks its mails account for (one a mail, or as many as a"
    echo "digest lists) against the knocks sent."
    echo
    echo "| watcher | CPU | RSS | knocks mailed / sent |"
    echo "|---|---|---|---|"
    echo "| the latency run, 5 knocks a second | | | $got_lat / $reps_lat |"
    echo "$idle_row"
    local l
    for l in "${loads[@]}"; do echo "$l"; done
    echo
}
