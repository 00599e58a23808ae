#!/bin/bash
# Runs every test of nfknock on a fresh Debian 12 machine, as root: installs
# what the tests need, then unit, golden, command-line and network-namespace
# tests. Rules are only ever loaded in namespaces the tests create.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
# In CI a test that cannot build its namespaces fails instead of skipping.
export NFKNOCK_REQUIRE_NETNS=1
cargo test --locked --all-targets
