#!/bin/bash
# Installs the Debian 12 packages nfknock's demo and tests use (as root),
# checking for what each provides before and after. Rust itself (cargo >=
# 1.88, Cargo.toml's rust-version) must already be there: Debian 12's own rustc
# is too old.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/require.sh

needs=(
    nftables=nft                            # the kernel firewall nfknock drives
    iptables=iptables-restore               # the iptables backend
    iptables=ip6tables-restore
    ipset=ipset                             # transient networks with the iptables backend
    iproute2=ip                             # ip netns: the throwaway namespaces
    nmap=nmap                               # a real port scanner, to show it cannot walk a sequence
    knockd=knock                            # knockd's client: an independent knock client
    knockd=knockd
    socat=socat                             # a listener behind the demo's hidden door
    util-linux=unshare                      # unshare, setpriv
    util-linux=setpriv
    diffutils=diff                          # diff -u for golden files
    mandoc=mandoc                           # lints the man pages
    lintian=lintian                         # checks the Debian package
    man-db=man                              # man -w, in the package test
    gcc=cc                                  # the linker cargo calls
    systemd=systemd-analyze                 # verifies the units
    systemd=/lib/systemd/systemd-journald   # the watcher reads the journal
    systemd=systemd-cat
    libsystemd-dev=/usr/include/systemd/sd-journal.h  # sd-journal, which the watcher links
    pkg-config=pkg-config                   # finds libsystemd for the build
    python3-aiosmtpd=/usr/lib/python3/dist-packages/aiosmtpd  # a real SMTP server for the watcher tests and benchmark
    hping3=hping3                           # the benchmark: a flood of spoofed first knocks
    openssh-server=/usr/sbin/sshd               # a real sshd behind a door, for nfknock connect
    openssh-client=ssh                          # ... and the ssh that uses it as ProxyCommand
    python3-prometheus-client=/usr/lib/python3/dist-packages/prometheus_client  # parses nfknock metrics
    shellcheck=shellcheck                   # lints every shell script
)
require "${needs[@]}"

if ! command -v cargo >/dev/null; then
    echo "cargo was not found: install Rust >= 1.88 (e.g. with rustup) first." >&2
    exit 1
fi
# cargo-deb builds the Debian package (from crates.io).
if ! command -v cargo-deb >/dev/null && ! [ -x "$HOME/.cargo/bin/cargo-deb" ]; then
    cargo install --locked cargo-deb
fi
