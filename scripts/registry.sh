#!/usr/bin/env bash
#
# scripts/registry.sh - run a throwaway local OCI registry for demos and benchmarks.
#
#   scripts/registry.sh start DIR PORT   start Debian's docker-registry (distribution 2.8)
#                                        in the background on 127.0.0.1:PORT, plain HTTP,
#                                        no auth, deletes enabled, blobs under DIR/data
#                                        (kept when it stops); returns once /v2/ answers.
#                                        Uses an open registry already answering there.
#   scripts/registry.sh stop DIR         stop the registry started for DIR.
#
# Both go through aurora-testenv (crates/testkit's Registry, the one the tests use); its
# keeper's messages are in DIR/registry.log.
# Example: scripts/registry.sh start /var/tmp/reg 5000 && curl http://127.0.0.1:5000/v2/_catalog
# Requires: docker-registry (apt-get install -y docker-registry), cargo to build aurora-testenv.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '3,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

case "${1:-}" in
start)
	(($# == 3)) || usage
	need_cmds docker-registry
	testenv registry up --dir "$2" --port "$3"
	;;
stop)
	(($# == 2)) || usage
	testenv registry down --dir "$2"
	;;
*) usage ;;
esac
