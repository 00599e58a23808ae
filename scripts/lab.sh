# shellcheck shell=bash
# Sourced by the demo, the benchmark and the VM guest: throwaway network
# namespaces, and the clean-up that goes with them. Nothing a script starts
# or changes outlives it, whether it ends well, fails or is interrupted.
#
#   lab_init ID             namespaces are ID-HOST; they go at exit
#   lab_host HOST           a namespace with loopback up
#   lab_link A IF_A B IF_B  a veth pair between two hosts ("." is the
#                           namespace the script runs in)
#   lab_bridge HOST...      new hosts on one bridge (in host "lan"), eth0 each
#   lab_addr HOST IF ADDR...  addresses, up (IPv6 without duplicate detection)
#   on HOST CMD...          runs CMD in HOST
#   lab_down                ends every process in the lab, deletes it
#   at_exit CMD...          runs CMD when the script exits, last first
#   set_sysctl NAME VALUE   the old value is put back at exit

lab_id=
lab_hosts=()
lab_exits=()
lab_exits_of=

at_exit() {
    # Each shell, a ( subshell ) too, has traps and clean-ups of its own.
    if [ "$lab_exits_of" != "$BASHPID" ]; then
        lab_exits_of=$BASHPID
        lab_exits=()
        trap lab_run_exits EXIT
        # Ctrl-C and kill: exit, which runs the EXIT trap.
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
    lab_exits+=("$(printf '%q ' "$@")")
}

lab_run_exits() {
    local i
    for ((i = ${#lab_exits[@]} - 1; i >= 0; i--)); do
        eval "${lab_exits[i]}" || true
    done
    lab_exits=()
}

set_sysctl() {
    local old
    old=$(sysctl -n "$1")
    at_exit sysctl -q -w "$1=$old"
    sysctl -q -w "$1=$2"
}

lab_init() {
    lab_id=$1
    at_exit lab_down
}

lab_ns() { echo "$lab_id-$1"; }

on() {
    local host=$1; shift
    ip netns exec "$(lab_ns "$host")" "$@"
}

lab_host() {
    ip netns add "$(lab_ns "$1")"
    lab_hosts+=("$1")
    on "$1" ip link set lo up
}

lab_link() {
    local in_a=() in_b=()
    [ "$1" = . ] || in_a=(netns "$(lab_ns "$1")")
    [ "$3" = . ] || in_b=(netns "$(lab_ns "$3")")
    ip link add "$2" "${in_a[@]}" type veth peer name "$4" "${in_b[@]}"
}

lab_addr() {
    local host=$1 dev=$2 addr; shift 2
    local run=(); [ "$host" = . ] || run=(ip netns exec "$(lab_ns "$host")")
    for addr in "$@"; do
        case $addr in
            *:*) "${run[@]}" ip addr add "$addr" dev "$dev" nodad ;;
            *) "${run[@]}" ip addr add "$addr" dev "$dev" ;;
        esac
    done
    "${run[@]}" ip link set "$dev" up
}

lab_bridge() {
    lab_host lan
    on lan ip link add br0 type bridge
    on lan ip link set br0 up
    local h
    for h in "$@"; do
        lab_host "$h"
        lab_link lan "p-$h" "$h" eth0
        on lan ip link set "p-$h" master br0 up
    done
}

# Every process in a namespace is ended by its PID (ip netns pids), not by
# its name: a name can belong to someone else's process.
lab_kill() {
    local ns=$1 pids _
    for _ in $(seq 20); do
        pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
        [ -n "$pids" ] || return 0
        # shellcheck disable=SC2086 # one PID a word
        kill $pids 2>/dev/null || true
        sleep 0.1
    done
    pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

lab_down() {
    local h
    for h in "${lab_hosts[@]}"; do lab_kill "$(lab_ns "$h")"; done
    for h in "${lab_hosts[@]}"; do ip netns del "$(lab_ns "$h")" 2>/dev/null || true; done
    lab_hosts=()
}
