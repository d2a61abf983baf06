# shellcheck shell=bash
#
# scripts/lib.sh - helpers shared by Aurora's shell scripts (scripts/registry.sh,
# demo.sh, bench/pull.sh). Source it, don't run it:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
#
# Sourcing it sets `set -euo pipefail`, LC_ALL=C and an EXIT trap that runs the
# commands registered with on_exit (last registered runs first). Scripts that
# source this file must not install their own EXIT trap; use on_exit instead.
#
# Contents:
#   log / warn / die                    messages on stderr
#   on_exit CMD ARGS...                 register a cleanup command
#   need_cmds CMD...                    fail early with a hint if a tool is missing
#   registry_start DIR PORT / registry_stop DIR / registry_alive PORT
#                                       local docker-registry (Debian's distribution 2.8)
#   oci_new / oci_layer / oci_config / oci_manifest / oci_push
#                                       build OCI image layouts with umoci, push with skopeo
#   remote_manifest REF                 manifest of REF in an HTTP registry (via skopeo)
#   imageadm_bin [--build]              locate (and if needed build) the imageadm binary

set -euo pipefail
export LC_ALL=C # stable number formatting ($EPOCHREALTIME, printf) and sorting

AURORA_ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Packages a fresh Debian 12 machine needs for the demo and the benchmark.
AURORA_APT_PACKAGES=(docker-registry skopeo umoci busybox-static apache2-utils openssl curl jq time ca-certificates build-essential pkg-config runc crun)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Cleanup: on_exit CMD ARGS... registers a command (arguments are quoted
# safely) to run when the script exits, whatever the reason.
_aurora_cleanup=()
on_exit() {
	local quoted
	printf -v quoted '%q ' "$@"
	_aurora_cleanup+=("$quoted")
}
_aurora_run_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#_aurora_cleanup[@]} - 1; i >= 0; i--)); do
		eval "${_aurora_cleanup[i]}" || warn "cleanup step failed: ${_aurora_cleanup[i]}"
	done
	exit "$rc"
}
trap _aurora_run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_cmds() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	((${#missing[@]} == 0)) ||
		die "missing tool(s): ${missing[*]} (install with: apt-get install -y ${AURORA_APT_PACKAGES[*]}; or run ./demo.sh once)"
}

# ---------------------------------------------------------------------------
# Local registry. Only ever listens on 127.0.0.1, plain HTTP, no auth.

# Not REGISTRY_*: docker-registry reads every REGISTRY_* variable as a config override.
AURORA_REGISTRY_TIMEOUT=${AURORA_REGISTRY_TIMEOUT:-30}
# shellcheck disable=SC2034 # read by the scripts that source this file
REGISTRY_STARTED=0 # set to 1 by registry_start when it started a new process

_check_port() {
	if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
		die "invalid port: '$1'"
	fi
}

# registry_alive PORT: true if a registry answers GET /v2/ with 2xx on 127.0.0.1:PORT.
registry_alive() {
	curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/v2/" 2>/dev/null
}

# _registry_pid DIR: print the pid from DIR/registry.pid if that process is
# still the docker-registry serving DIR/config.yml (guards against pid reuse).
_registry_pid() {
	local pidfile=$1/registry.pid pid cmdline
	[[ -s $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
	[[ $cmdline == *docker-registry*"$1/config.yml"* ]] || return 1
	echo "$pid"
}

# _registry_show_log LOG OFFSET: print (the end of) what LOG got after byte OFFSET.
_registry_show_log() {
	printf -- '--- %s (this start only, last 20 lines):\n' "$1" >&2
	tail -c "+$(($2 + 1))" "$1" | tail -n 20 >&2
}

# registry_start DIR PORT: start docker-registry in the background on
# 127.0.0.1:PORT storing blobs under DIR/data (writes DIR/config.yml,
# DIR/registry.pid, DIR/registry.log). Does nothing if a registry already
# answers on that port. Sets REGISTRY_STARTED=1 if it started one.
registry_start() {
	(($# == 2)) || die "usage: registry_start DIR PORT"
	local dir port=$2 pid code i logstart
	_check_port "$port"
	REGISTRY_STARTED=0
	if registry_alive "$port"; then
		log "a registry is already answering on 127.0.0.1:$port; using it"
		return 0
	fi
	code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$port/v2/" 2>/dev/null) || true
	[[ $code == 000 ]] ||
		die "127.0.0.1:$port is in use by something that is not an open registry (GET /v2/ -> HTTP $code); pick another port"
	need_cmds docker-registry curl
	mkdir -p "$1/data"
	dir=$(cd "$1" && pwd)
	if pid=$(_registry_pid "$dir"); then
		die "docker-registry for $dir is running (pid $pid) but not answering on port $port; run: scripts/registry.sh stop $dir"
	fi

	cat >"$dir/config.yml" <<EOF
# Written by scripts/registry.sh - local, unauthenticated, plain-HTTP registry.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
	printf '\n--- %s: starting on 127.0.0.1:%s\n' "$(date -Is)" "$port" >>"$dir/registry.log"
	logstart=$(stat -c %s "$dir/registry.log")
	# setsid: own session, so the registry outlives this script and a Ctrl-C in
	# the caller's terminal. We are not a process-group leader here, so setsid
	# execs in place and $! is the registry's pid.
	setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/registry.pid"

	for ((i = 0; i < AURORA_REGISTRY_TIMEOUT * 10; i++)); do
		if registry_alive "$port"; then
			# shellcheck disable=SC2034
			REGISTRY_STARTED=1
			log "registry started on 127.0.0.1:$port (pid $pid, data in $dir/data, log $dir/registry.log)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$dir/registry.pid"
			_registry_show_log "$dir/registry.log" "$logstart"
			die "docker-registry exited during startup (see its log above)"
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	rm -f "$dir/registry.pid"
	_registry_show_log "$dir/registry.log" "$logstart"
	die "docker-registry did not answer on http://127.0.0.1:$port/v2/ within ${AURORA_REGISTRY_TIMEOUT}s (see log above)"
}

# registry_stop DIR: stop the registry started by registry_start DIR ... .
registry_stop() {
	(($# == 1)) || die "usage: registry_stop DIR"
	local dir pid i
	if [[ ! -d $1 ]]; then
		log "no registry directory $1; nothing to stop"
		return 0
	fi
	dir=$(cd "$1" && pwd)
	if ! pid=$(_registry_pid "$dir"); then
		[[ -e $dir/registry.pid ]] && log "stale pid file $dir/registry.pid removed"
		rm -f "$dir/registry.pid"
		log "no registry running for $dir"
		return 0
	fi
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		_registry_pid "$dir" >/dev/null || break
		sleep 0.1
	done
	if _registry_pid "$dir" >/dev/null; then
		warn "registry (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/registry.pid"
	log "registry for $dir stopped (pid $pid)"
}

# ---------------------------------------------------------------------------
# OCI image layouts, built with umoci the standard way: unpack the image into
# a bundle, change BUNDLE/rootfs, repack. Each oci_layer call = one new layer
# (repack --refresh-bundle re-bases the bundle, so the next call only captures
# what changed since). `umoci insert` would skip the unpack, but umoci 0.4.7's
# insert writes tar streams without the end-of-archive footer (umoci#436,
# fixed upstream in #534), which GNU tar and Python's tarfile reject.
#
#   oci_new L T B; cp ... "$B/rootfs/"; oci_layer L T B "what"; oci_config L T ...

_umoci_rootless() { ((EUID == 0)) || echo --rootless; }

# oci_new LAYOUT TAG BUNDLE: create the layout if needed, an empty image
# LAYOUT:TAG, and unpack it into BUNDLE (which must not exist yet).
oci_new() {
	[[ -f $1/oci-layout ]] || umoci init --layout "$1"
	umoci new --image "$1:$2"
	# shellcheck disable=SC2046 # _umoci_rootless prints zero or one word
	umoci unpack $(_umoci_rootless) --image "$1:$2" "$3" >/dev/null
}

# oci_layer LAYOUT TAG BUNDLE DESCRIPTION: commit what changed in
# BUNDLE/rootfs since the last oci_new/oci_layer as one new gzip layer.
oci_layer() {
	umoci repack --refresh-bundle --history.created_by "$4" --image "$1:$2" "$3"
}

# oci_config LAYOUT TAG UMOCI_CONFIG_ARGS...: e.g. oci_config L T --config.cmd /bin/sh
oci_config() {
	local layout=$1 tag=$2
	shift 2
	umoci config --image "$layout:$tag" "$@"
}

# oci_manifest LAYOUT TAG: print the image manifest JSON for LAYOUT:TAG.
oci_manifest() {
	local digest
	digest=$(jq -er --arg t "$2" \
		'[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)][0].digest' \
		"$1/index.json") || die "no tag '$2' in $1/index.json"
	cat "$1/blobs/${digest/://}"
}

# oci_push LAYOUT TAG HOST:PORT/REPO:TAG: push to a plain-HTTP registry.
oci_push() {
	skopeo copy --quiet --dest-tls-verify=false "oci:$1:$2" "docker://$3"
}

# remote_manifest HOST:PORT/REPO:TAG: print the manifest from a plain-HTTP registry.
remote_manifest() {
	skopeo inspect --raw --tls-verify=false "docker://$1"
}

# ---------------------------------------------------------------------------
# imageadm_bin [--build]: print the imageadm binary to use. $IMAGEADM wins if
# set (must be executable). Otherwise target/release/imageadm, built with cargo
# when it is missing, or always with --build (cargo makes that a no-op when it
# is up to date).
imageadm_bin() {
	if [[ -n ${IMAGEADM:-} ]]; then
		[[ -x $IMAGEADM ]] || die "IMAGEADM=$IMAGEADM is not an executable file"
		echo "$IMAGEADM"
		return 0
	fi
	local bin=$AURORA_ROOT_DIR/target/release/imageadm
	if [[ ${1:-} == --build || ! -x $bin ]]; then
		if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
			PATH=$HOME/.cargo/bin:$PATH
		fi
		command -v cargo >/dev/null ||
			die "cargo not found; install Rust >= 1.89 with rustup (https://rustup.rs) - Debian's rustc is too old"
		log "building imageadm (cargo build --release -p imageadm)"
		(cd "$AURORA_ROOT_DIR" && cargo build --release -p imageadm >&2)
	fi
	[[ -x $bin ]] || die "cargo build did not produce $bin"
	echo "$bin"
}

# install_packages: apt-get installs whatever of AURORA_APT_PACKAGES is missing.
install_packages() {
	local p missing=()
	for p in "${AURORA_APT_PACKAGES[@]}"; do
		[[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "required Debian packages already installed"
		return 0
	fi
	((EUID == 0)) || die "run as root to install: ${missing[*]}"
	log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
	# Debian's docker-registry package enables and starts a system-wide
	# registry on :5000 (with htpasswd auth). We only wanted the binary, so
	# undo that side effect of our own install; a pre-existing one is left alone.
	if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null &&
		systemctl is-active --quiet docker-registry 2>/dev/null; then
		log "stopping and disabling docker-registry.service that the package just started"
		systemctl disable --now docker-registry || warn "could not stop docker-registry.service"
	fi
}
