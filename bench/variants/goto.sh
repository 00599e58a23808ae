# shellcheck shell=bash
# Firewall mode: INPUT goes to NFKNOCK rather than jumping (NFKNOCK ends
# in a verdict, so nothing returns).
source "$(dirname "$0")/lib.sh"
n=$(rule_number INPUT '^-A INPUT -j NFKNOCK$')
iptables -R INPUT "$n" -g NFKNOCK
