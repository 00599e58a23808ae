#!/bin/bash
# Runs every test of nfknock on a fresh Debian 12 machine, as root: installs
# what the tests need, then unit, golden, command-line and network-namespace
# tests, the package, the system test under QEMU, the demo and a benchmark
# smoke run. Rules are only ever loaded in namespaces the tests create, and
# nothing the tests start or change outlives them (tests/hygiene.sh checks).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
source scripts/lab.sh
# The watcher tests read kernel messages from the journal. A journald this
# script started goes when it ends.
journald=$(bash scripts/journald.sh --print-started)
[ -z "$journald" ] || at_exit kill "$journald"

# Lint every shell script.
git ls-files -z '*.sh' .ci/run debian/config debian/postinst debian/postrm debian/prerm | xargs -0 shellcheck -x -S warning
# In CI a test that cannot build its namespaces fails instead of skipping.
# Log lines from the tests' namespaces reach the kernel log only with
# nf_log_all_netns, which lets any namespace write kernel log lines: it is
# on for the Rust tests only.
(
    set_sysctl net.netfilter.nf_log_all_netns 1
    NFKNOCK_REQUIRE_NETNS=1 cargo test --locked --all-targets
)

# The Debian package: build it, lint it, install, reconfigure and purge it
# in an isolated root.
cargo deb --locked
deb=$(ls -t target/debian/nfknock_*.deb | head -n 1)
lintian --fail-on error,warning "$deb"
bash tests/package/run.sh "$deb"

# The system test: a real Debian 12 booted under QEMU installs the package
# and is rebooted twice (a few minutes; the base image is cached).
bash tests/vm/run.sh "$deb"

# The demo and the benchmark harness leave nothing behind, whether they
# finish or are interrupted (a smoke run: a few repetitions of each figure).
bash tests/hygiene.sh bash scripts/demo.sh
bash tests/hygiene.sh --ctrl-c-at "scans every TCP port" bash scripts/demo.sh
bash tests/hygiene.sh --kill-at "scans every TCP port" bash scripts/demo.sh
bash tests/hygiene.sh bash bench/run.sh --smoke
