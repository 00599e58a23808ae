# shellcheck shell=bash
# One ipset bitmap:port match in place of NFKNOCK's TCP multiport rules
# (first knocks and doors, 15 ports a rule).
source "$(dirname "$0")/lib.sh"
multiport='-p tcp -m multiport --dports'
ipset create nfkbench-ports bitmap:port range 0-65535
rules=$(iptables -S NFKNOCK | grep -- "$multiport")
for ports in $(grep -o -- '--dports [0-9,]*' <<<"$rules" | cut -d' ' -f2); do
    for p in ${ports//,/ }; do ipset add nfkbench-ports "$p"; done
done
first=$(rule_number NFKNOCK "$multiport")
for _ in $(seq "$(wc -l <<<"$rules")"); do iptables -D NFKNOCK "$first"; done
iptables -I NFKNOCK "$first" -p tcp -m set --match-set nfkbench-ports dst -j NFK-PORTS
