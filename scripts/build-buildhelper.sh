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

need_cmds cargo file ldd
target=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$AURORA_ROOT_DIR/target}
[[ $target_dir == /* ]] || target_dir=$AURORA_ROOT_DIR/$target_dir
bin=$target_dir/$target/release/buildhelper

log "building buildhelper (static, $target)"
(cd "$AURORA_ROOT_DIR" &&
	RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
		cargo build --release -p aurora-buildhelper --bin buildhelper --target "$target" >&2)
[[ -x $bin ]] || die "cargo build did not produce $bin"

# `file` says "statically linked" (or "static-pie linked"); ldd has nothing to load.
kind=$(file -b "$bin")
[[ $kind == *"statically linked"* || $kind == *"static-pie linked"* ]] ||
	die "$bin is not static: $kind"
if ldd_out=$(ldd "$bin" 2>&1); then
	[[ $ldd_out == *"statically linked"* ]] || die "$bin loads shared libraries: $ldd_out"
fi
[[ $("$bin" --version) == "buildhelper "* ]] || die "$bin --version did not answer"
log "static: $kind"
echo "$bin"
