#!/bin/bash
# nfknock's benchmarks, side by side with knockd, all in throwaway network
# namespaces (server and client on a veth pair; TEST-NET addresses). Root.
#
#   bash bench/run.sh            # the full run (about 20 min); writes BENCHMARKS.md
#   bash bench/run.sh --smoke    # a few repetitions each, to check the harness
#   bash bench/run.sh --only packet   # one section, printed (BENCHMARKS.md untouched)
#   PACKET_SETUPS='conntrack iptables-guard-1' PACKET_ROUNDS=4 bash bench/run.sh --only packet
#                                     # some rows of the packet path only
#   PACKET_SETUPS='conntrack iptables-guard-16 iptables-guard-16+port-bitmap' ...
#                                     # and nfknock's rules changed by a script
#                                     # of bench/variants/ (see its README)
#
# Sections, one file each: packet.sh (what the rules cost other traffic),
# knock.sh (knock to open; the knock client), watch.sh (knock to mail; the
# watcher's CPU and memory), apply.sh (apply and transient times), flood.sh
# (state under a spoofed flood). lib.sh has what they share. Each figure is
# a median with min/max or p99 over the stated number of repetitions, and
# every ratio compares figures of the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The configs written below hold knock sequences: private, as nfknock
# expects (it warns about a config others can read).
umask 077
smoke=0 only=
case "${1:-}" in
    --smoke) smoke=1 ;;
    --only) only=${2:?"--only packet|knock|watch|apply|flood"} ;;
    "") ;;
    *) echo "usage: bench/run.sh [--smoke | --only SECTION]" >&2; exit 2 ;;
esac
out=${BENCH_OUT:-BENCHMARKS.md}

bash scripts/deps.sh >/dev/null
# The watcher's section reads the kernel log through journald.
bash scripts/journald.sh
source bench/lib.sh
# Kernel log lines from the lab's namespaces reach the journal only so;
# the old value comes back at exit.
set_sysctl net.netfilter.nf_log_all_netns 1
cargo build --release --locked -q --bin nfknock --example knock_latency --example rule_cost --example knock_stream
NFK=$PWD/target/release/nfknock
LAT=$PWD/target/release/examples/knock_latency
RULE_COST=$PWD/target/release/examples/rule_cost
STREAM=$PWD/target/release/examples/knock_stream
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
# nfknock keeps a record of what it loads: here, not in /var/lib.
export STATE_DIRECTORY=$tmp/state

source bench/packet.sh
source bench/knock.sh
source bench/watch.sh
source bench/apply.sh
source bench/flood.sh
lab_up

if [ -n "$only" ]; then
    case $only in
        flood) bench_flood "$(flood_set_memory)" ;;
        packet|knock|watch|apply) "bench_$only" ;;
        *) echo "bench/run.sh: no section $only" >&2; exit 2 ;;
    esac
    exit 0
fi

# Each section writes its part of the report; a failed section fails the run.
# Kernel memory is best measured on a quiet machine: first. The flood's
# conntrack entries linger for minutes: it comes last.
set_memory=$(flood_set_memory)
for f in packet knock watch apply; do "bench_$f" > "$tmp/$f.md"; done
bench_flood "$set_memory" > "$tmp/flood.md"

{
    echo "# nfknock benchmarks"
    echo
    echo "Measured by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo),"
    echo "Linux $(uname -r), $(nft --version), $(iptables --version), knockd $(dpkg-query -W -f='${Version}' knockd),"
    echo "$(hping3 --version 2>&1 | head -n 1),"
    echo "nfknock $("$NFK" --version | cut -d' ' -f2) (release build). Server and client are network namespaces on one"
    echo "veth pair on this machine (the packet path adds a twin server on a second pair), so client and"
    echo "servers share its cores. Everything below is from one run. Reproduce: \`sudo bash bench/run.sh\`"
    echo "(about 20 minutes)."
    echo
    for f in packet knock watch apply flood; do cat "$tmp/$f.md"; done
    cat bench/notes.md
} > "$tmp/report.md"

if [ $smoke = 1 ]; then
    cat "$tmp/report.md"
    # The harness must fill every figure: no empty statistics, no NaN.
    ! grep -Eq 'n/a|nan|inf' "$tmp/report.md"
    [ "$(grep -c '^| [^-]' "$tmp/report.md")" -ge 25 ]
else
    cp "$tmp/report.md" "$out"
    cat "$out"
fi
