# shellcheck shell=bash
#
# scripts/lib.sh - helpers shared by Aurora's shell scripts (scripts/registry.sh,
# demo.sh, bench/*.sh). Source it, don't run it:
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
#   aurora_bin NAME [--build]           locate (and build) imageadm, runz or aurora-testenv
#   testenv KIND up|down ... / testenv_up FACTS KIND DIR ARGS...
#                                       zfs-fuse pools, btrfs loop mounts and registries:
#                                       aurora-testenv, the very code of the tests
#                                       (crates/testkit), with the same zfs-fuse turn
#   install_packages                    apt-get install what of AURORA_APT_PACKAGES is missing
#   check_positive_int / mib / fmt_s / fmt_ms / kib_mib / json_nums / min_of / max_of /
#   median / load_check / timed LOG CMD... / record_run / medians
#                                       measuring (bench/*.sh)
#   fs_type / umount_tree / purge_tree  removing trees that hold mounts and btrfs subvolumes
#   (scripts/images.sh, sourced at the end: the demo's and the benchmarks' OCI images)

set -euo pipefail
export LC_ALL=C # stable number formatting ($EPOCHREALTIME, printf) and sorting

AURORA_ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Packages a fresh Debian 12 machine needs for the demo and the benchmark.
AURORA_APT_PACKAGES=(docker-registry skopeo umoci busybox-static apache2-utils openssl curl jq time ca-certificates build-essential pkg-config runc crun btrfs-progs zfs-fuse podman buildah containerd libseccomp-dev file netavark aardvark-dns iptables protobuf-compiler containernetworking-plugins)

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
# aurora_bin NAME [--build]: print the binary NAME (imageadm, runz, aurora-testenv) to use.
# $IMAGEADM, $RUNZ or $AURORA_TESTENV wins if set (must be executable). Otherwise cargo's:
# with --build always built first (cargo makes that a no-op when it is up to date; the
# benchmarks time what the source says, never a stale binary), else only when missing.
# imageadm and runz: release profile; aurora-testenv, which is not timed: dev profile.
aurora_bin() {
	local name=$1 override profile=release
	override=${name^^}
	override=${override//-/_}
	if [[ -n ${!override:-} ]]; then
		[[ -x ${!override} ]] || die "$override=${!override} is not an executable file"
		echo "${!override}"
		return 0
	fi
	local -a build=(build --release -p "$name")
	if [[ $name == aurora-testenv ]]; then
		profile=debug
		build=(build -p aurora-testkit --bin aurora-testenv)
	fi
	local bin=${CARGO_TARGET_DIR:-$AURORA_ROOT_DIR/target}/$profile/$name
	if [[ ${2:-} == --build || ! -x $bin ]]; then
		if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
			PATH=$HOME/.cargo/bin:$PATH
		fi
		command -v cargo >/dev/null ||
			die "cargo not found; install Rust >= 1.89 with rustup (https://rustup.rs) - Debian's rustc is too old"
		log "building $name (cargo ${build[*]})"
		(cd "$AURORA_ROOT_DIR" && cargo "${build[@]}" >&2)
	fi
	[[ -x $bin ]] || die "cargo build did not produce $bin"
	echo "$bin"
}

# ---------------------------------------------------------------------------
# Test environments: aurora-testenv (crates/testkit/src/bin/aurora-testenv), the testkit's
# ZfsPool, BtrfsVolume and Registry for the shell. `up` returns once the resource is there
# and prints KEY=VALUE facts; `down` returns once it is gone. A zfs-fuse pool holds the
# machine-wide zfs-fuse turn (the tests' lock) from up to down. See `aurora-testenv --help`.
#
#   testenv KIND up|down --dir DIR [--size 16G] [--port P]
#   testenv_up FACTS KIND DIR ARGS...   KIND up; its facts in the associative array FACTS
#                                       (declared by the caller: declare -A FACTS); dies on
#                                       failure; registers `down` with on_exit when this call
#                                       started it (FACTS[STARTED] == 1)
AURORA_TESTENV_BIN=

testenv() {
	[[ -n $AURORA_TESTENV_BIN ]] || AURORA_TESTENV_BIN=$(aurora_bin aurora-testenv --build)
	"$AURORA_TESTENV_BIN" "$@"
}

testenv_up() {
	local -n _facts=$1
	local kind=$2 dir=$3 out line
	shift 3
	[[ -n $AURORA_TESTENV_BIN ]] || AURORA_TESTENV_BIN=$(aurora_bin aurora-testenv --build)
	out=$("$AURORA_TESTENV_BIN" "$kind" up --dir "$dir" "$@") || die "aurora-testenv $kind up --dir $dir $* failed"
	_facts=()
	while IFS= read -r line; do
		[[ $line == *=* ]] && _facts[${line%%=*}]=${line#*=}
	done <<<"$out"
	if [[ ${_facts[STARTED]:-0} == 1 ]]; then
		on_exit testenv "$kind" down --dir "$dir"
	fi
}


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
# Removal of trees that hold mounts and btrfs subvolumes (benchmark work directories).
# Need root.

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

# The demo's and the benchmarks' images (umoci, skopeo).
# shellcheck source=scripts/images.sh
source "$AURORA_ROOT_DIR/scripts/images.sh"

# build_static PACKAGE BIN: builds BIN of PACKAGE as a static x86_64 Linux binary (what is
# bind-mounted into containers whose roots have no libc for it: podinit, buildhelper),
# checks that it is static and answers --version, and prints its absolute path. --target
# keeps RUSTFLAGS away from build scripts and proc-macros. Honours CARGO_TARGET_DIR.
build_static() {
	local package=$1 name=$2 target=x86_64-unknown-linux-gnu target_dir bin kind ldd_out
	need_cmds cargo file ldd
	target_dir=${CARGO_TARGET_DIR:-$AURORA_ROOT_DIR/target}
	[[ $target_dir == /* ]] || target_dir=$AURORA_ROOT_DIR/$target_dir
	bin=$target_dir/$target/release/$name
	log "building $name (static, $target)"
	(cd "$AURORA_ROOT_DIR" &&
		RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
			cargo build --release -p "$package" --bin "$name" --target "$target" >&2)
	[[ -x $bin ]] || die "cargo build did not produce $bin"
	# `file` says "statically linked" (or "static-pie linked"); ldd has nothing to load.
	kind=$(file -b "$bin")
	[[ $kind == *"statically linked"* || $kind == *"static-pie linked"* ]] ||
		die "$bin is not static: $kind"
	if ldd_out=$(ldd "$bin" 2>&1); then
		[[ $ldd_out == *"statically linked"* ]] || die "$bin loads shared libraries: $ldd_out"
	fi
	[[ $("$bin" --version) == "$name "* ]] || die "$bin --version did not answer"
	log "static: $kind"
	echo "$bin"
}
