# shellcheck shell=bash
# Firewall mode without INPUT's jump to NFKNOCK: only the established rule
# is left, so established packets take the same path as with the jump.
source "$(dirname "$0")/lib.sh"
n=$(rule_number INPUT '^-A INPUT -j NFKNOCK$')
iptables -D INPUT "$n"
