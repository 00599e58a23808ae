# shellcheck shell=bash
# The knocking list's lookup first, the conntrack test after it, in the
# rule every NEW packet meets (iptables, either mode).
source "$(dirname "$0")/lib.sh"
lookup='--ctstate NEW,UNTRACKED -m recent --rcheck .*--name nfknock_knocking_'
rule=$(iptables -S NFKNOCK | grep -m 1 -E -- "$lookup")
list=$(grep -o 'nfknock_knocking_v4_[0-9a-f]*' <<<"$rule")
seconds=$(grep -o -- '--seconds [0-9]*' <<<"$rule")
# shellcheck disable=SC2086 # $seconds is two words
n=$(rule_number NFKNOCK "$lookup")
iptables -R NFKNOCK "$n" -m recent --name "$list" --rcheck $seconds --reap \
    -m conntrack --ctstate NEW,UNTRACKED -j NFK-KNOCKS
