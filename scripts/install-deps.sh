#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages Aurora's demo, tests and benchmarks use
# (docker-registry, skopeo, umoci, busybox-static, htpasswd, …); skips what is present.
# Rust itself (cargo, rustfmt, clippy) is expected to be installed with rustup already.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
install_packages
need_cmds cargo
