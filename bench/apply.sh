# shellcheck shell=bash
# shellcheck disable=SC2154 # smoke, tmp, NFK, LAT, STREAM: set by bench/run.sh
# Apply times: 1, 16, 64 doors; 10, 1,000, 10,000 transient networks; and
# the target's case, 64 doors then 10,000 transient networks. nftables.
# Sourced by bench/run.sh.

# 198.18.0.0/15 is the benchmarking range (RFC 2544): N /32 networks in it.
bench_networks() { seq 0 $(($1 - 1)) | awk '{ printf "198.18.%d.%d/32 ", int($1 / 250), $1 % 250 + 1 }'; }

bench_apply() {
    local reps=$(( smoke ? 1 : 7 ))
    local -a rows=()
    # timed LABEL SETUP MEASURED: runs SETUP untimed, then times MEASURED
    # (shell code), from a flushed server, REPS times.
    timed() {
        rows+=("$1|$(for _ in $(seq $reps); do
            srv_flush; eval "$2"
            local s e; s=$(now_ns); eval "$3"; e=$(now_ns); echo $(( (e - s) / 1000 ))
        done | stats)")
    }
    local n cfg
    for n in 1 16 64; do
        say "apply, $n doors"
        cfg=$(config "$tmp/apply$n.toml" nftables guard "$n")
        timed "apply, $n door(s)" : 'on srv "$NFK" -q -c "$cfg" apply --no-persist'
    done
    cfg=$(config "$tmp/apply1.toml" nftables guard 1)
    for n in 10 1000 10000; do
        say "transient add, $n networks"
        local nets; nets=$(bench_networks $n)
        timed "transient add, $n networks (after apply)" 'on srv "$NFK" -q -c "$cfg" apply --no-persist' \
            'on srv "$NFK" -q -c "$cfg" transient add $nets'
    done
    say "apply 64 doors + 10000 transient networks"
    # shellcheck disable=SC2034 # both are used by the commands timed runs
    cfg=$(config "$tmp/apply64.toml" nftables guard 64)
    # shellcheck disable=SC2034
    nets=$(bench_networks 10000)
    timed "apply 64 doors, then transient add 10000 networks" : \
        'on srv "$NFK" -q -c "$cfg" apply --no-persist && on srv "$NFK" -q -c "$cfg" transient add $nets'
    srv_flush

    echo "## Apply"
    echo
    echo "\`nfknock apply\` (check, read the host's ruleset, render, one \`nft -f\` transaction) and \`nfknock transient add\`,"
    echo "nftables backend, process start to exit."
    echo
    echo "| what | median | p99 | min / max | n |"
    echo "|---|---|---|---|---|"
    local r
    for r in "${rows[@]}"; do row "${r%%|*}" "${r#*|}" 1000 ms; done
    echo
}
