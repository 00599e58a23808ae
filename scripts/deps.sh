#!/bin/bash
# Installs the Debian 12 packages nfknock's demo and tests use (as root),
# skipping those already installed. Rust itself (cargo >= 1.85, for the
# 2024 edition) must already be there: Debian 12's own rustc is too old.
set -euo pipefail

packages=(
    nftables    # nft: the kernel firewall nfknock drives
    iptables    # iptables-restore and friends: the iptables backend
    ipset       # transient networks with the iptables backend
    iproute2    # ip netns: the throwaway namespaces
    nmap        # a real port scanner, to show it cannot walk a sequence
    knockd      # knockd's `knock`: an independent knock client
    socat       # a listener behind the demo's hidden door
    util-linux  # unshare, setpriv
    diffutils   # diff -u for golden files
    mandoc      # lints the man pages
    lintian     # checks the Debian package
    man-db      # man -w, in the package test
    gcc         # the linker cargo calls
    systemd     # systemd-analyze, to verify the units; journald for the watcher
    libsystemd-dev  # sd-journal, which the watcher links
    pkg-config      # finds libsystemd for the build
    python3-aiosmtpd  # a real SMTP server for the watcher tests and benchmark
    iperf3      # the benchmark: established TCP throughput
    hping3      # the benchmark: a flood of spoofed first knocks
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
    echo "cargo was not found: install Rust >= 1.85 (e.g. with rustup) first." >&2
    exit 1
fi
# cargo-deb builds the Debian package (from crates.io).
if ! command -v cargo-deb >/dev/null && ! [ -x "$HOME/.cargo/bin/cargo-deb" ]; then
    cargo install --locked cargo-deb
fi
