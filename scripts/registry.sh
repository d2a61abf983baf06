#!/usr/bin/env bash
#
# scripts/registry.sh - run a throwaway local OCI registry for demos and benchmarks.
#
#   scripts/registry.sh start DIR PORT   start Debian's docker-registry (distribution 2.8)
#                                        in the background on 127.0.0.1:PORT, plain HTTP,
#                                        no auth, deletes enabled, blobs under DIR/data;
#                                        writes DIR/config.yml, DIR/registry.pid and
#                                        DIR/registry.log and waits until /v2/ answers.
#                                        Does nothing if a registry already answers there.
#   scripts/registry.sh stop DIR         stop the registry started for DIR (pid file).
#
# Example: scripts/registry.sh start /var/tmp/reg 5000 && curl http://127.0.0.1:5000/v2/_catalog
# Env: AURORA_REGISTRY_TIMEOUT (seconds to wait for /v2/, default 30).
# Requires: docker-registry, curl (apt-get install -y docker-registry curl).

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
	registry_start "$2" "$3"
	;;
stop)
	(($# == 2)) || usage
	registry_stop "$2"
	;;
*) usage ;;
esac
