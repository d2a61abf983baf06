#!/usr/bin/env bash
# test.sh - the test command: installs what the tests need, then runs every test of the
# workspace against the real parts (docker-registry, skopeo, umoci, runc, crun, podman,
# zfs-fuse, btrfs). Run as root on Debian 12:
#
#     ./test.sh
#
# Extra arguments go to `cargo test` (e.g. ./test.sh -p aurora-store).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
./scripts/install-deps.sh
# runz's --init tests bind-mount podinit into busybox containers: it must be static.
AURORA_PODINIT=$(./scripts/build-podinit.sh)
export AURORA_PODINIT
# imageadm build bind-mounts buildhelper into build containers of any image: static too.
AURORA_BUILDHELPER=$(./scripts/build-buildhelper.sh)
export AURORA_BUILDHELPER
# As root every test can run here, so a test that skips itself fails the run (see
# aurora_testkit::skip): a green run means every test ran. Unset it to allow skips.
if [ "$(id -u)" = 0 ]; then
    export AURORA_TEST_REQUIRE_ALL="${AURORA_TEST_REQUIRE_ALL:-1}"
fi
cargo test --workspace --locked "$@"
# The CRI server's conformance, as kubelet's runtimes are judged: critest's [Conformance]
# specs against aurora-cri (stand-in images on a loopback registry, CNI bridge). Whole runs
# only (no arguments), as root. The digest-pinned image cannot be rebuilt offline.
if [ $# -eq 0 ] && [ "$(id -u)" = 0 ]; then
    ./scripts/critest.sh --focus 'Conformance' --skip 'image with digest'
fi
