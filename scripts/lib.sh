# shellcheck shell=bash
#
# scripts/lib.sh - helpers shared by Aurora's shell scripts (scripts/registry.sh,
# demo.sh, bench/pull.sh, bench/unpack.sh). Source it, don't run it:
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
#   aurora_bin NAME [--build] / imageadm_bin [--build]
#                                       locate (and if needed build) imageadm or runz
#   install_packages                    apt-get install what of AURORA_APT_PACKAGES is missing
#   (scripts/images.sh, sourced at the end: the demo's and the benchmarks' OCI images)
#   check_positive_int / mib / fmt_s / fmt_ms / kib_mib / json_nums / min_of / max_of /
#   median / load_check / timed LOG CMD...
#                                       measuring (bench/*.sh)
#   fs_type / umount_tree / purge_tree / btrfs_loop_mount / loop_umount /
#   zfs_fuse_start / zfs_fuse_stop / zfs_take_turn / zfs_release_turn / zfs_pool_create /
#   zfs_pool_destroy / zfs_dataset_destroy
#                                       throwaway btrfs and zfs-fuse filesystems on files

set -euo pipefail
export LC_ALL=C # stable number formatting ($EPOCHREALTIME, printf) and sorting

AURORA_ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Packages a fresh Debian 12 machine needs for the demo and the benchmark.
AURORA_APT_PACKAGES=(docker-registry skopeo umoci busybox-static apache2-utils openssl curl jq time ca-certificates build-essential pkg-config runc crun btrfs-progs zfs-fuse podman containerd libseccomp-dev file)

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
# aurora_bin NAME [--build]: print the binary NAME (imageadm, runz) to use. $IMAGEADM or
# $RUNZ wins if set (must be executable). Otherwise target/release/NAME, built with cargo
# when it is missing, or always with --build (cargo makes that a no-op when it is up to date).
aurora_bin() {
	local name=$1 override
	override=${name^^}
	if [[ -n ${!override:-} ]]; then
		[[ -x ${!override} ]] || die "$override=${!override} is not an executable file"
		echo "${!override}"
		return 0
	fi
	local bin=$AURORA_ROOT_DIR/target/release/$name
	if [[ ${2:-} == --build || ! -x $bin ]]; then
		if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
			PATH=$HOME/.cargo/bin:$PATH
		fi
		command -v cargo >/dev/null ||
			die "cargo not found; install Rust >= 1.89 with rustup (https://rustup.rs) - Debian's rustc is too old"
		log "building $name (cargo build --release -p $name)"
		(cd "$AURORA_ROOT_DIR" && cargo build --release -p "$name" >&2)
	fi
	[[ -x $bin ]] || die "cargo build did not produce $bin"
	echo "$bin"
}

# imageadm_bin [--build]: aurora_bin imageadm.
imageadm_bin() { aurora_bin imageadm "$@"; }

# ---------------------------------------------------------------------------
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

# ---------------------------------------------------------------------------
# Measuring (bench/*.sh).

# check_positive_int NAME VALUE: die unless VALUE is a positive decimal integer.
check_positive_int() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || ((10#$2 < 1)); then
		die "$1 must be a positive integer, got '$2'"
	fi
}

# mib BYTES, fmt_s µS, fmt_ms µS, kib_mib KIB: numbers for humans (MiB, s, ms, MiB).
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
fmt_s() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1e6 }'; }
fmt_ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1e3 }'; }
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# json_nums N...: a JSON array of the numbers; min_of / max_of / median N...
json_nums() { printf '%s\n' "$@" | jq -sc .; }
min_of() { printf '%s\n' "$@" | sort -n | head -n 1; }
max_of() { printf '%s\n' "$@" | sort -n | tail -n 1; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# load_check: print the 1-minute load average; warn when it is above half the CPUs.
load_check() {
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
		warn "load average is $load on $(nproc) CPUs: something else is busy, expect noisy numbers"
	fi
	echo "$load"
}

# timed LOG CMD...: run CMD with its output in LOG; set TIMED_US (wall clock, µs)
# and TIMED_RSS_KIB (peak RSS, from GNU time). On failure shows the end of LOG
# and returns CMD's status.
timed() {
	local logf=$1 t0 t1 rc=0
	shift
	[[ -x /usr/bin/time ]] || die "GNU time missing (apt-get install -y time)"
	t0=$EPOCHREALTIME
	/usr/bin/time -f %M -o "$logf.rss" "$@" >"$logf" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	if ((rc != 0)); then
		tail -n 20 "$logf" >&2
		return "$rc"
	fi
	# shellcheck disable=SC2034 # read by the scripts that source this file
	TIMED_US=$((${t1/./} - ${t0/./})) TIMED_RSS_KIB=$(tail -n 1 "$logf.rss")
}

# record_run TOOL: append the last timed run (TIMED_US, TIMED_RSS_KIB) to the arrays
# WALL_US_TOOL and RSS_KIB_TOOL (declared by the caller), and log it.
record_run() {
	declare -n _wall=WALL_US_$1 _peak=RSS_KIB_$1
	_wall+=("$TIMED_US")
	_peak+=("$TIMED_RSS_KIB")
	log "  $1: $(fmt_s "$TIMED_US") s, peak RSS $(kib_mib "$TIMED_RSS_KIB") MiB"
}

# medians TOOL...: MED_US[TOOL] and MED_RSS[TOOL] (associative arrays the caller declares)
# from the runs record_run kept.
medians() {
	local tool
	for tool in "$@"; do
		declare -n _w=WALL_US_$tool _r=RSS_KIB_$tool
		MED_US[$tool]=$(median "${_w[@]}")
		MED_RSS[$tool]=$(median "${_r[@]}")
		unset -n _w _r
	done
}

# ---------------------------------------------------------------------------
# Throwaway filesystems for benchmarks and tests: zfs-fuse pools and btrfs
# filesystems on sparse files, and removal of trees that hold mounts and btrfs
# subvolumes. All need root.

# fs_type PATH: the type of the filesystem PATH is on (ext4, btrfs, fuse.zfs, ...).
fs_type() { findmnt -n -o FSTYPE -T "$1"; }

# umount_tree DIR: unmount DIR (if a mount point) and every mount below it,
# innermost first (lazily when a normal unmount fails).
umount_tree() {
	local dir mnt
	dir=$(realpath -m "$1")
	findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r |
		while IFS= read -r mnt; do
			umount "$mnt" 2>/dev/null || umount -l "$mnt" || warn "could not unmount $mnt"
		done
}

# purge_tree DIR: remove DIR whatever it holds: mounts below it are unmounted,
# btrfs subvolumes (read-only ones refuse rm -rf) deleted, then rm -rf.
purge_tree() {
	local dir=$1 sub
	[[ -e $dir ]] || return 0
	umount_tree "$dir"
	if [[ $(fs_type "$dir") == btrfs ]]; then
		# A subvolume's root directory is inode 256; -depth: nested ones first.
		while IFS= read -r -d '' sub; do
			btrfs subvolume delete "$sub" >/dev/null || warn "could not delete btrfs subvolume $sub"
		done < <(find "$dir" -depth -type d -inum 256 -print0)
	fi
	rm -rf "$dir"
}

# btrfs_loop_mount FILE SIZE MNT: a new btrfs on a new sparse FILE of SIZE
# (truncate's syntax: 16G), mounted at MNT through a loop device.
btrfs_loop_mount() {
	local file=$1 size=$2 mnt=$3
	need_cmds mkfs.btrfs btrfs losetup
	! mountpoint -q "$mnt" 2>/dev/null || die "$mnt is a mount point already"
	rm -f "$file"
	truncate -s "$size" "$file"
	mkfs.btrfs -q -f "$file" >/dev/null
	mkdir -p "$mnt"
	mount -o loop "$file" "$mnt"
	log "btrfs on $file ($size, sparse) mounted at $mnt ($(findmnt -n -o SOURCE "$mnt"))"
}

# loop_umount MNT FILE: unmount MNT and everything below it, detach any loop
# device still backed by FILE, delete FILE.
loop_umount() {
	local mnt=$1 file=$2 dev
	umount_tree "$mnt"
	if [[ -e $file ]]; then
		for dev in $(losetup -j "$file" | cut -d: -f1); do
			losetup -d "$dev" || warn "could not detach $dev ($file)"
		done
	fi
	rm -f "$file"
}

# zfs-fuse (Debian's ZFS for Linux here) has one daemon serving every pool on the host;
# the zfs tools only work while it runs. As crates/testkit/src/zfs.rs (the tests' pools):
# - zfs_fuse_start uses a daemon that answers, whoever started it, and otherwise starts
#   one with its pid in /var/run/zfs-fuse.pid (where Debian's init script looks), first
#   removing a stale pid file (zfs-fuse exits 1, silently, when the file exists). It sets
#   ZFS_FUSE_STARTED to the pid; zfs_fuse_stop stops only that one, and only when no pool
#   is left on it.
# - Two mounts at the same moment can freeze the daemon for good, so one pool user at a
#   time has "the turn": zfs_take_turn waits for the same lock file the tests take
#   (flock), zfs_release_turn gives it back. Take it before zfs_fuse_start and hold it
#   until after zpool destroy, and run no two zfs commands at once meanwhile. (Child
#   processes inherit the lock's fd: start no long-lived ones while holding it.)
# - Mounted filesystems, and for a moment ones just unmounted, are "busy" to destroy:
#   zfs_dataset_destroy unmounts first and retries.
ZFS_FUSE_PIDFILE=/var/run/zfs-fuse.pid
ZFS_FUSE_STARTED=
ZFS_TURN_FD=

zfs_fuse_alive() { zpool list -H -o name >/dev/null 2>&1; }

# _zfs_fuse_pid PID: true if PID is a live (not zombie) zfs-fuse process.
_zfs_fuse_pid() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	[[ ${stat%)*} == *"(zfs-fuse" && ${stat##*) } != [ZX]* ]]
}

zfs_fuse_start() {
	local i pid
	need_cmds zfs-fuse zpool zfs
	[[ -e /dev/fuse ]] || die "/dev/fuse does not exist: this machine (or container) gives no FUSE"
	ZFS_FUSE_STARTED=
	if zfs_fuse_alive; then
		log "zfs-fuse is running already; using it"
		return 0
	fi
	pid=$(cat "$ZFS_FUSE_PIDFILE" 2>/dev/null) || true
	if [[ $pid =~ ^[0-9]+$ ]] && _zfs_fuse_pid "$pid"; then
		log "zfs-fuse (pid $pid) is running but does not answer yet; waiting up to 10s"
		for ((i = 0; i < 100; i++)); do
			zfs_fuse_alive && return 0
			sleep 0.1
		done
		die "zfs-fuse (pid $pid, $ZFS_FUSE_PIDFILE) is running but does not answer"
	fi
	((EUID == 0)) || die "zfs-fuse must be started as root"
	rm -f "$ZFS_FUSE_PIDFILE"
	log "starting zfs-fuse"
	# It forks into the background itself; its stdio must not keep our pipes open, nor
	# may it inherit the turn's lock (it would hold it for good).
	if [[ -n $ZFS_TURN_FD ]]; then
		zfs-fuse --pidfile "$ZFS_FUSE_PIDFILE" </dev/null >/dev/null 2>&1 {ZFS_TURN_FD}>&- ||
			die "zfs-fuse --pidfile $ZFS_FUSE_PIDFILE failed (it logs to syslog only)"
	else
		zfs-fuse --pidfile "$ZFS_FUSE_PIDFILE" </dev/null >/dev/null 2>&1 ||
			die "zfs-fuse --pidfile $ZFS_FUSE_PIDFILE failed (it logs to syslog only)"
	fi
	for ((i = 0; i < 150; i++)); do
		if zfs_fuse_alive; then
			pid=$(cat "$ZFS_FUSE_PIDFILE" 2>/dev/null) || true
			{ [[ $pid =~ ^[0-9]+$ ]] && _zfs_fuse_pid "$pid"; } ||
				die "zfs-fuse answers but $ZFS_FUSE_PIDFILE does not name it"
			ZFS_FUSE_STARTED=$pid
			log "zfs-fuse started (pid $pid)"
			return 0
		fi
		sleep 0.1
	done
	die "zfs-fuse started but did not answer within 15s"
}

zfs_fuse_stop() {
	local pid=$ZFS_FUSE_STARTED i pools
	[[ -n $pid ]] || return 0
	ZFS_FUSE_STARTED=
	_zfs_fuse_pid "$pid" || return 0
	pools=$(zpool list -H -o name 2>/dev/null) || true
	if [[ -n $pools ]]; then
		log "leaving zfs-fuse (pid $pid) running: pools $(echo "$pools" | tr '\n' ' ')use it"
		return 0
	fi
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		if ! _zfs_fuse_pid "$pid"; then
			log "zfs-fuse stopped (pid $pid)"
			return 0
		fi
		sleep 0.1
	done
	warn "zfs-fuse (pid $pid) still running 20s after SIGTERM; left alone"
}

# zfs_take_turn: wait (up to 30 minutes) for the machine-wide zfs-fuse turn.
zfs_take_turn() {
	local path=${TMPDIR:-/tmp}/aurora-zfs-test-pool.lock
	[[ ! -d /run/lock ]] || path=/run/lock/aurora-zfs-test-pool.lock
	[[ -z $ZFS_TURN_FD ]] || return 0
	exec {ZFS_TURN_FD}>>"$path"
	if ! flock -n "$ZFS_TURN_FD"; then
		log "waiting for the zfs-fuse turn ($path, held by a test or benchmark using a pool)"
		flock -w 1800 "$ZFS_TURN_FD" || die "did not get the zfs-fuse turn ($path) within 30 minutes"
	fi
}

zfs_release_turn() {
	[[ -n $ZFS_TURN_FD ]] || return 0
	exec {ZFS_TURN_FD}>&-
	ZFS_TURN_FD=
}

# _zfs_retry SECONDS CMD...: retry CMD (quietly) for up to SECONDS while it fails; a
# try that hangs (a frozen daemon) is given up after a minute.
_zfs_retry() {
	local i tries=$(($1 * 10))
	shift
	for ((i = 1; i < tries; i++)); do
		timeout 60 "$@" 2>/dev/null && return 0
		sleep 0.1
	done
	timeout 60 "$@"
}

# zfs_pool_create POOL FILE SIZE MOUNTPOINT: a pool on a new sparse FILE of SIZE
# (16G), its root dataset mounted at MOUNTPOINT. The pool must not exist yet.
zfs_pool_create() {
	local pool=$1 file=$2 size=$3 mnt=$4 out
	zfs_fuse_alive || die "zfs-fuse is not running (zfs_fuse_start)"
	! zpool list -H -o name "$pool" >/dev/null 2>&1 || die "zfs pool $pool exists already"
	rm -f "$file"
	truncate -s "$size" "$file"
	mkdir -p "$mnt"
	# (It says "Defaulting to 4K blocksize" on success.)
	out=$(zpool create -m "$mnt" "$pool" "$file" 2>&1) || die "zpool create -m $mnt $pool $file failed: $out"
	log "zfs pool $pool on $file ($size, sparse) mounted at $mnt"
}

# zfs_pool_destroy POOL [FILE]: destroy POOL if it exists, then delete FILE (kept if
# the pool could not be destroyed: removing it under a live pool faults the pool).
zfs_pool_destroy() {
	local pool=$1 file=${2:-}
	if ! zfs_fuse_alive; then
		warn "zfs-fuse is not running, so pool $pool cannot be destroyed now; it stays in /var/lib/zfs/zpool.cache: once zfs-fuse runs, run: zpool destroy -f $pool"
	elif zpool list -H -o name "$pool" >/dev/null 2>&1; then
		if ! _zfs_retry 20 zpool destroy -f "$pool"; then
			warn "could not destroy zfs pool $pool; keeping ${file:-its file}"
			return 1
		fi
	fi
	[[ -z $file ]] || rm -f "$file"
}

# zfs_dataset_destroy DATASET: destroy DATASET with its children and clones, if it
# exists (unmounting them first, innermost first).
zfs_dataset_destroy() {
	local ds
	zfs list -H -o name "$1" >/dev/null 2>&1 || return 0
	zfs list -H -o name -t filesystem -r "$1" | sort -r | while IFS= read -r ds; do
		zfs unmount "$ds" >/dev/null 2>&1 || true
	done
	_zfs_retry 15 zfs destroy -R "$1"
}

# The demo's and the benchmarks' images (umoci, skopeo).
# shellcheck source=scripts/images.sh
source "$AURORA_ROOT_DIR/scripts/images.sh"
