#!/bin/bash
# The package test: installs the built .deb into an isolated root (an
# overlay of / in private mount and network namespaces, so this machine's
# files and firewall are untouched; a PID namespace, so that the checks see
# only their own processes) and checks install, dpkg-reconfigure
# and purge the way an admin would see them. Root only.
#
#   bash tests/package/run.sh target/debian/nfknock_*.deb
set -euo pipefail
deb=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
exec unshare --mount --net --pid --fork bash "$here/isolated.sh" "$deb"
