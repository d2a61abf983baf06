#!/usr/bin/env bash
# test.sh - the test command: installs what the tests need, then runs every test of the
# workspace against the real parts (docker-registry, skopeo, umoci). Run as root on Debian 12:
#
#     ./test.sh
#
# Extra arguments go to `cargo test` (e.g. ./test.sh -p aurora-store).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
./scripts/install-deps.sh
cargo test --workspace --locked "$@"
