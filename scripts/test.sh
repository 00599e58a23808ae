#!/bin/bash
# Runs every test of nfknock on a fresh Debian 12 machine, as root: installs
# what the tests need, then unit, golden, command-line and network-namespace
# tests. Rules are only ever loaded in namespaces the tests create.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
# The watcher tests read kernel messages from the journal.
bash scripts/journald.sh
# Log lines from the tests' network namespaces reach the kernel log only so.
# It lets every namespace's packet logs in (nfknock watch warns about it):
# put it back as it was when the tests end.
all_netns=$(sysctl -n net.netfilter.nf_log_all_netns)
trap 'sysctl -q -w net.netfilter.nf_log_all_netns="$all_netns"' EXIT
sysctl -q -w net.netfilter.nf_log_all_netns=1
# In CI a test that cannot build its namespaces fails instead of skipping.
export NFKNOCK_REQUIRE_NETNS=1
cargo test --locked --all-targets

# The Debian package: build it, lint it, install, reconfigure and purge it
# in an isolated root.
cargo deb --locked
deb=$(ls -t target/debian/nfknock_*.deb | head -n 1)
lintian --fail-on error,warning "$deb"
bash tests/package/run.sh "$deb"

# The system test: a real Debian 12 booted under QEMU installs the package
# and is rebooted twice (a few minutes; the base image is cached).
bash tests/vm/run.sh "$deb"

# A smoke run of the benchmark harness: a few repetitions of each figure.
bash bench/run.sh --smoke
