#!/usr/bin/env bash
#
# scripts/build-podinit.sh - build podinit as a static x86_64 Linux binary and print its path.
#
# podinit is bind-mounted into containers that have no init of their own and runs as the
# init of illumos lx zones (as a Linux binary there), so it must not need the host's or the
# image's shared libraries. --target keeps RUSTFLAGS away from build scripts and proc-macros.
#
# Usage: scripts/build-podinit.sh        (honours CARGO_TARGET_DIR; default ./target)
# Prints: the absolute path of the binary on stdout; progress on stderr.
# Requires: cargo (rustup), file, ldd.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_static aurora-podinit podinit
