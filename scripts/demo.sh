#!/bin/bash
# nfknock's main job on a built-in example, in throwaway network namespaces
# (server, client, attacker on a bridge; TEST-NET addresses). Needs root;
# the machine's own firewall is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cargo build --release --locked -q
nfknock=$PWD/target/release/nfknock
config=$PWD/cfg-sample/nfknock.toml
server=192.0.2.1
source scripts/lab.sh
state=$(mktemp -d)
at_exit rm -rf "$state"
# Server, client and attacker on one bridge; the listener and everything
# else started in the namespaces ends with them.
lab_init "nfkdemo$$"
lab_bridge srv cli atk
n=1
for h in srv cli atk; do
    lab_addr "$h" eth0 "192.0.2.$n/24"
    n=$((n + 1))
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
door_state() { on "$1" nmap -n -Pn -sS -p 22 "$server" | awk '$1 == "22/tcp" { print $2 }'; }

say "The server (192.0.2.1) runs a service on 22/tcp and applies cfg-sample/nfknock.toml"
on srv socat TCP-LISTEN:22,fork,reuseaddr SYSTEM:'echo "hello from behind the door"' &
on srv env STATE_DIRECTORY="$state" "$nfknock" -c "$config" check
on srv env STATE_DIRECTORY="$state" "$nfknock" -c "$config" apply --no-persist

say "An attacker (192.0.2.3) scans every TCP port in order"
on atk nmap -n -Pn -sS -p- -r -T5 --max-retries 0 "$server" | grep -E '^(PORT|[0-9]+/|Not shown|All)' || true
echo "door 22/tcp as the attacker sees it: $(door_state atk)"
echo "(the scan hit 48211/tcp, the first knock, then 48212/tcp, which reset it)"

say "The client (192.0.2.2) knocks the \"ssh\" door's sequence, as an ordinary user"
echo "before: 22/tcp is $(door_state cli)"
on cli setpriv --reuid=65534 --regid=65534 --clear-groups "$nfknock" -v -c "$config" knock "$server" --door ssh
echo "after:  22/tcp is $(door_state cli)"
on cli socat -T2 - "TCP:$server:22,connect-timeout=2" </dev/null
echo "the attacker still sees 22/tcp $(door_state atk)"

say "What the kernel holds: nfknock status on the server"
on srv "$nfknock" status

say "nfknock remove: the door is no longer hidden"
on srv env STATE_DIRECTORY="$state" "$nfknock" remove --no-persist
echo "the attacker now sees 22/tcp $(door_state atk)"
