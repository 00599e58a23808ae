# shellcheck shell=bash
# What the variants share. Sourced.
set -euo pipefail

# rule_number CHAIN REGEX: the number of CHAIN's first rule that matches
# the extended REGEX as `iptables -S CHAIN` prints it (whose first line is
# the chain's policy or -N, not a rule).
rule_number() {
    local n
    n=$(iptables -S "$1" | grep -n -m 1 -E -- "$2" | cut -d: -f1)
    [ -n "$n" ] || { echo "variant: no rule of $1 matches $2" >&2; return 1; }
    echo $((n - 1))
}
