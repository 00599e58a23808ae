#!/bin/bash
# nfknock's benchmarks, side by side with knockd, all in throwaway network
# namespaces (server, client on a veth pair; TEST-NET addresses). Root.
#
#   bash bench/run.sh            # the full run; writes BENCHMARKS.md
#   bash bench/run.sh --smoke    # a few repetitions each, to check the harness
#
# Measured here: knock-to-open latency (nfknock nftables and iptables vs
# knockd with the usual iptables start_command), the knock client's wall
# time (nfknock knock vs knockd's knock), and apply times (1, 16, 64 doors;
# 10, 1,000, 10,000 transient networks). Each figure is a median with
# min/max or p99 over the stated number of repetitions, from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0; [ "${1:-}" = --smoke ] && smoke=1
reps_lat=$(( smoke ? 3 : 100 ))
reps_client=$(( smoke ? 3 : 30 ))
reps_apply=$(( smoke ? 1 : 7 ))
out=${BENCH_OUT:-BENCHMARKS.md}
[ $smoke = 1 ] && out=$(mktemp)

bash scripts/deps.sh >/dev/null
cargo build --release --locked -q --bin nfknock --example knock_latency
NFK=$PWD/target/release/nfknock
LAT=$PWD/target/release/examples/knock_latency
tmp=$(mktemp -d)
# nfknock keeps a record of what it loads: here, not in /var/lib.
export STATE_DIRECTORY=$tmp/state
id=nfkbench$$
on() { local h=$1; shift; ip netns exec "$id-$h" "$@"; }
cleanup() {
    pkill -f "knockd -d -i eth0 -c $tmp" 2>/dev/null || true
    [ -z "${listener:-}" ] || kill "$listener" 2>/dev/null || true
    for h in srv cli; do ip netns del "$id-$h" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$id-srv"; ip netns add "$id-cli"
ip link add eth0 netns "$id-srv" type veth peer name eth0 netns "$id-cli"
on srv ip addr add 192.0.2.1/24 dev eth0; on cli ip addr add 192.0.2.2/24 dev eth0
for h in srv cli; do on $h ip link set eth0 up; on $h ip link set lo up; done
on srv socat TCP-LISTEN:22,fork,reuseaddr SYSTEM:true & listener=$!
sleep 0.5

# median, p99, min, max of numbers on stdin
stats() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
    p = int(NR * 0.99 + 0.5); if (p < 1) p = 1; if (p > NR) p = NR
    printf "%s %s %s %s %d\n", v[int((NR + 1) / 2)], v[p], v[1], v[NR], NR }'; }
now_ns() { date +%s%N; }

SEQ="41001/tcp 42003/udp 43005/tcp"
config() { # backend
    cat > "$tmp/$1.toml" <<CFG
backend = "$1"
sequence_timeout = "5s"
door_timeout = "1s"
[allow]
ipv4 = []
ipv6 = []
[[door]]
name = "ssh"
port = "22/tcp"
sequence = ["41001/tcp", "42003/udp", "43005/tcp"]
CFG
    echo "$tmp/$1.toml"
}

# ---- knock to open ------------------------------------------------------
declare -A lat
for backend in nftables iptables; do
    cfg=$(config $backend)
    on srv "$NFK" -q -c "$cfg" apply --no-persist
    lat[$backend]=$(on cli "$LAT" 192.0.2.1 22 $reps_lat 1300 $SEQ | grep -v timeout | stats)
    on srv "$NFK" -q remove --no-persist
done
cat > "$tmp/knockd.conf" <<CONF
[options]
	logfile = $tmp/knockd.log
[open]
	sequence      = 41001:tcp,42003:udp,43005:tcp
	seq_timeout   = 5
	tcpflags      = syn
	start_command = /usr/sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	cmd_timeout   = 1
	stop_command  = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
CONF
on srv iptables -A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset
on srv knockd -d -i eth0 -c "$tmp/knockd.conf"
sleep 1
lat[knockd]=$(on cli "$LAT" 192.0.2.1 22 $reps_lat 1300 $SEQ | grep -v timeout | stats)
pkill -f "knockd -d -i eth0 -c $tmp" || true
on srv iptables -F INPUT

# ---- client wall time ---------------------------------------------------
client() { # label, command...
    local label=$1; shift
    local t
    t=$(for _ in $(seq $reps_client); do
        s=$(now_ns); on cli "$@" >/dev/null 2>&1; e=$(now_ns); echo $(( (e - s) / 1000 ))
    done | stats)
    clients+=("$label|$t")
}
clients=()
FOUR="41001/tcp 42003/udp 43005/tcp 44007/udp"
client "nfknock knock, default delay (20 ms)" "$NFK" knock 192.0.2.1 $FOUR
client "knockd's knock, default delay (0)" knock 192.0.2.1 41001:tcp 42003:udp 43005:tcp 44007:udp
client "nfknock knock --delay 0ms" "$NFK" knock --delay 0ms 192.0.2.1 $FOUR
client "knockd's knock -d 20 (20 ms)" knock -d 20 192.0.2.1 41001:tcp 42003:udp 43005:tcp 44007:udp

# ---- apply --------------------------------------------------------------
applies=()
apply_time() { # label, config, [transient count]
    local label=$1 cfg=$2 nets=${3:-0}
    local t
    t=$(for _ in $(seq $reps_apply); do
        if [ "$nets" -gt 0 ]; then
            on srv "$NFK" -q -c "$cfg" apply --no-persist
            s=$(now_ns)
            # 198.18.0.0/15 is the benchmarking range (RFC 2544).
            on srv "$NFK" -q -c "$cfg" transient add $(seq 0 $((nets - 1)) | awk '{ printf "198.18.%d.%d/32 ", int($1 / 250), $1 % 250 + 1 }')
            e=$(now_ns)
        else
            on srv "$NFK" -q remove --no-persist
            s=$(now_ns); on srv "$NFK" -q -c "$cfg" apply --no-persist; e=$(now_ns)
        fi
        echo $(( (e - s) / 1000 ))
    done | stats)
    applies+=("$label|$t")
    on srv "$NFK" -q remove --no-persist
}
doors() { # n
    local f=$tmp/doors$1.toml
    echo 'backend = "nftables"' > "$f"
    for i in $(seq 1 "$1"); do
        printf '[[door]]\nname = "d%d"\nport = "%d/tcp"\nsequence = ["%d/tcp", "%d/udp", "%d/tcp"]\n' \
            "$i" $((2000 + i)) $((30000 + i * 10)) $((40000 + i * 10)) $((50000 + i * 10)) >> "$f"
    done
    echo "$f"
}
for n in 1 16 64; do apply_time "apply, $n door(s), nftables" "$(doors $n)"; done
for n in 10 1000 10000; do apply_time "transient add, $n networks (after apply)" "$(doors 1)" $n; done

# ---- report -------------------------------------------------------------
row() { # label, "median p99 min max n", unit divisor, unit
    read -r med p99 min max n <<<"$2"
    awk -v l="$1" -v a="$med" -v b="$p99" -v c="$min" -v d="$max" -v n="$n" -v k="$3" -v u="$4" \
        'BEGIN { printf "| %s | %.2f %s | %.2f %s | %.2f / %.2f %s | %d |\n", l, a/k, u, b/k, u, c/k, d/k, u, n }'
}
{
    echo "# nfknock benchmarks"
    echo
    echo "Measured by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo),"
    echo "Linux $(uname -r), $(nft --version), $(iptables --version), knockd $(dpkg-query -W -f='${Version}' knockd),"
    echo "nfknock $("$NFK" --version | cut -d' ' -f2) (release build). Server and client are network namespaces on one"
    echo "veth pair; everything is from one run. Reproduce: \`sudo bash bench/run.sh\`."
    echo
    echo "## Knock to open"
    echo
    echo "From the last knock packet to the first connection the door accepts, the same client"
    echo "(\`examples/knock_latency.rs\`) for all three; knockd runs the usual \`iptables -I\` start_command."
    echo
    echo "| server | median | p99 | min / max | n |"
    echo "|---|---|---|---|---|"
    row "nfknock, nftables" "${lat[nftables]}" 1000 ms
    row "nfknock, iptables" "${lat[iptables]}" 1000 ms
    row "knockd 0.8 + iptables" "${lat[knockd]}" 1000 ms
    read -r nm _ <<<"${lat[nftables]}"; read -r km _ <<<"${lat[knockd]}"
    echo
    awk -v a="$nm" -v b="$km" 'BEGIN { if (a > 0) printf "knockd / nfknock (nftables), medians: **%.1fx**.\n", b / a }'
    echo
    echo "## Knock client"
    echo
    echo "Wall time of a 4-knock sequence, process start to exit."
    echo
    echo "| client | median | p99 | min / max | n |"
    echo "|---|---|---|---|---|"
    for c in "${clients[@]}"; do row "${c%%|*}" "${c#*|}" 1000 ms; done
    echo
    echo "## Apply"
    echo
    echo "| what | median | p99 | min / max | n |"
    echo "|---|---|---|---|---|"
    for a in "${applies[@]}"; do row "${a%%|*}" "${a#*|}" 1000 ms; done
    echo
    echo "## Not measured yet"
    echo
    echo "Packet path (throughput and new-connection rate against no rules), the watcher (mail"
    echo "latency, CPU and RSS; see the watcher issue's note for a first measurement) and state"
    echo "under a spoofed flood are not in this harness yet."
} > "$out"
cat "$out"
if [ $smoke = 1 ]; then
    # The harness must produce every row with numbers.
    ! grep -q "n/a" "$out" && [ "$(grep -c '^| ' "$out")" -ge 13 ]
    rm -f "$out"
fi
