#!/usr/bin/env bash
#
# scripts/build-buildhelper.sh - build buildhelper as a static x86_64 Linux binary and print
# its path.
#
# imageadm build bind-mounts buildhelper read-only into every build container, whatever the
# image being built has (musl, glibc, no libc at all), so it must not need the host's or the
# image's shared libraries. --target keeps RUSTFLAGS away from build scripts and proc-macros.
#
# Usage: scripts/build-buildhelper.sh        (honours CARGO_TARGET_DIR; default ./target)
# Prints: the absolute path of the binary on stdout; progress on stderr.
# Requires: cargo (rustup), file, ldd.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_static aurora-buildhelper buildhelper
