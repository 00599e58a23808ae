# shellcheck shell=bash
# Sourced by the scripts that install packages. One function:
#
#   require [--same-release] PACKAGE=CHECK...
#
# CHECK is a command (found on PATH) or an absolute path that must exist;
# a package may be named several times with several checks. The packages
# whose checks fail are installed in one apt call. Whether a package counts
# as there is decided by what it provides, not by dpkg: a package that is
# installed in another version may still be replaced or removed by apt while
# it installs the others. So every check runs again afterwards, and a
# command still missing stops the script at once, named, before any long
# step that needs it.
#
# --same-release: the packages depend on each other's exact versions (QEMU's
# qemu-system-x86 and qemu-utils); all of them are asked for in this
# release's version, so that one already there from elsewhere (backports) is
# brought in line instead of removed.

require_present() {
    case $1 in
        /*) [ -e "$1" ] ;;
        *) command -v "$1" >/dev/null ;;
    esac
}

require() {
    local same_release=0
    if [ "${1:-}" = --same-release ]; then same_release=1; shift; fi
    local spec package check
    local -a wanted=() ask=() missing=()
    local -A seen=()
    for spec in "$@"; do
        package=${spec%%=*} check=${spec#*=}
        if ! require_present "$check" && [ -z "${seen[$package]:-}" ]; then
            seen[$package]=1
            wanted+=("$package")
        fi
    done
    if ((${#wanted[@]})); then
        ask=("${wanted[@]}")
        local -a flags=()
        if ((same_release)); then
            local codename
            codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
            ask=()
            for spec in "$@"; do
                package=${spec%%=*}
                [[ " ${ask[*]} " == *" $package/$codename "* ]] || ask+=("$package/$codename")
            done
            flags=(--allow-downgrades)
        fi
        echo "Installing: ${ask[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends "${flags[@]}" "${ask[@]}"
    fi
    for spec in "$@"; do
        package=${spec%%=*} check=${spec#*=}
        require_present "$check" || missing+=("$check (package $package)")
    done
    if ((${#missing[@]})); then
        echo "Still missing after installing packages: ${missing[*]}" >&2
        return 1
    fi
}
