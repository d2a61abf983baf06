#!/usr/bin/env bash
#
# bench/pool.sh - the warm pool: `podadm run --rm IMAGE true` claiming a ready sandbox of a
# pool of 8, beside podadm without a pool, `podman run --rm`, and the runtime's own `runz
# run` of the same image's bundle; alternating, medians. Then 100 back-to-back pooled runs
# (the refiller keeping up or not). A measurement, not a test.
#
#     bench/pool.sh              # as root; RUNS=5 BACK=20 DRIVERS=overlay for a quick look
#
# - Image: one layer of static busybox with every applet (scripts/images.sh
#   build_busybox_image), pushed to the local registry as 127.0.0.1:$PORT/bench/applets:1,
#   pulled once (untimed) into each store.
# - Stores, per driver: podadm with a pool (`pool set IMAGE --size 8 --network none`) and
#   podadm without one, two roots on the same filesystem (overlay: $BENCH_DIR; zfs: datasets
#   of one zfs-fuse pool, the roots' blobs on $BENCH_DIR); podman --root $BENCH_DIR/pool/podman
#   (overlay, on $BENCH_DIR's filesystem for both drivers: podman's overlay cannot sit on
#   zfs-fuse), runc, cgroupfs.
# - Scenarios, all `--network none`:
#   1. RUNS rounds, the tools' order rotating each round: pooled `run --rm IMAGE true`,
#      podadm without a pool, podman, and `runz run` of a bundle podadm created for the
#      image. Before each, untimed: the pool refilled to 8 with the refiller gone, and
#      podadm's monitors finished, so that no tool runs beside another's background work.
#   2. BACK pooled runs back to back, nothing waited for between them: median, p90, max,
#      and how many sandboxes were ready at the end; then BACK runs without a pool the same
#      way, the baseline a drained pool falls back to.
#   3. RUNS rounds of a pod brought up (`pod create` then `pod start`, what a CRI
#      RunPodSandbox does; removed untimed): podadm claiming from a pool of 8 pods' infra
#      sandboxes (`pool set --pod`), podadm without one, podman.
# - Prints medians (ms), the pooled run against each, and one JSON line per driver last;
#   every sample (driver, scenario, µs) is kept in $BENCH_DIR/pool/logs/samples.
#
# Env: PODADM     podadm binary (default: cargo build --release -p podadm; runz and
#                 aurora-monitor built with the `runtime` profile, beside it in $BENCH_DIR)
#      PODINIT    static podinit (default: scripts/build-podinit.sh)
#      DRIVERS    storage drivers (default "overlay zfs")
#      RUNS       rounds of scenario 1 (default 20)
#      BACK       runs of scenario 2 (default 100)
#      PORT       registry port on 127.0.0.1 (default 5055)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench)
# Requires: root; podman, skopeo, umoci, docker-registry, busybox-static, jq, curl;
#           zfs-fuse, zpool, zfs for the zfs driver.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-20}
BACK=${BACK:-100}
PORT=${PORT:-5055}
DRIVERS=${DRIVERS:-overlay zfs}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
POOL_SIZE=8
check_positive_int RUNS "$RUNS"
check_positive_int BACK "$BACK"
(($(id -u) == 0)) || die "bench/pool.sh needs root"
need_cmds podman skopeo umoci docker-registry busybox jq curl
for d in $DRIVERS; do
	case $d in
	overlay) ;;
	zfs) need_cmds zfs-fuse zpool zfs ;;
	*) die "unknown driver '$d' in DRIVERS (known: overlay zfs)" ;;
	esac
done

WORK=$BENCH_DIR/pool
IMAGE=127.0.0.1:$PORT/bench/applets:1
BIN=$WORK/bin

# --- binaries -----------------------------------------------------------------
mkdir -p "$BIN"
if [[ -n ${PODADM:-} ]]; then
	[[ -x $PODADM ]] || die "PODADM=$PODADM is not an executable file"
	cp "$PODADM" "$BIN/podadm"
	for helper in runz aurora-monitor; do
		cp "$(dirname "$PODADM")/$helper" "$BIN/$helper"
	done
else
	log "building podadm (release) and runz, aurora-monitor (profile runtime)"
	(cd "$AURORA_ROOT_DIR" && cargo build --release --locked -p podadm >&2 &&
		cargo build --profile runtime --locked -p runz -p aurora-monitor >&2)
	target=${CARGO_TARGET_DIR:-$AURORA_ROOT_DIR/target}
	cp "$target/release/podadm" "$BIN/podadm"
	cp "$target/runtime/runz" "$target/runtime/aurora-monitor" "$BIN/"
fi
if [[ -z ${PODINIT:-} ]]; then
	PODINIT=$("$AURORA_ROOT_DIR/scripts/build-podinit.sh")
fi
cp "$PODINIT" "$BIN/podinit"
export AURORA_PODINIT=$BIN/podinit

# --- podman ---------------------------------------------------------------------
PODMAN_ROOT=$WORK/podman
PODMAN_RUNROOT=$(mktemp -d /run/aurora-bench-pool-podman.XXXXXX)
# Root here lacks CAP_SYS_RESOURCE and crun refuses the hybrid cgroup layout (see
# bench/podadm.sh): runc, and rlimits within the hard limits.
PODMAN_CONF=$WORK/containers.conf
mkdir -p "$WORK/logs"
: >"$WORK/logs/samples"
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' \
	"$(ulimit -Hn)" "$(ulimit -Hn)" >"$PODMAN_CONF"
export CONTAINERS_CONF=$PODMAN_CONF
pm() { podman --root "$PODMAN_ROOT" --runroot "$PODMAN_RUNROOT" --cgroup-manager cgroupfs --events-backend file "$@"; }

# --- podadm stores, per driver ----------------------------------------------------
RUNROOT_POOL=
RUNROOT_PLAIN=
STORAGE_ARGS=()
ZFS_UP=0
pa_pool() { "$BIN/podadm" --root "$WORK/$DRIVER/pool" --runroot "$RUNROOT_POOL" "${STORAGE_ARGS[@]/POOLROOT/pool}" "$@"; }
pa_plain() { "$BIN/podadm" --root "$WORK/$DRIVER/plain" --runroot "$RUNROOT_PLAIN" "${STORAGE_ARGS[@]/POOLROOT/plain}" "$@"; }

cleanup_driver() {
	[[ -n ${DRIVER:-} ]] || return 0
	pa_pool pool rm "$IMAGE" >/dev/null 2>&1 || true
	pa_pool pool rm --pod >/dev/null 2>&1 || true
	pa_pool pod rm -f --all >/dev/null 2>&1 || true
	pa_plain pod rm -f --all >/dev/null 2>&1 || true
	pa_pool rm -f -t 0 --all >/dev/null 2>&1 || true
	pa_plain rm -f -t 0 --all >/dev/null 2>&1 || true
	for rr in "$RUNROOT_POOL" "$RUNROOT_PLAIN"; do
		[[ -n $rr ]] || continue
		umount_tree "$rr" 2>/dev/null || true
		rm -rf "$rr"
	done
	if [[ $DRIVER == zfs ]] && ((ZFS_UP)); then
		testenv zfs-pool down --dir "$WORK/zfs-env" || warn "could not take the zfs pool down"
		ZFS_UP=0
	fi
	purge_tree "$WORK/$DRIVER" 2>/dev/null || true
	DRIVER=
}
cleanup_all() {
	cleanup_driver
	pm rm -f -t 0 --all >/dev/null 2>&1 || true
	pm system reset -f >/dev/null 2>&1 || true
	umount_tree "$WORK" 2>/dev/null || true
	rm -rf "$PODMAN_RUNROOT"
}
on_exit cleanup_all

busybox_image_in_registry "$IMAGE" "$WORK"
pm rm -f -t 0 --all >/dev/null 2>&1 || true
log "pulling $IMAGE into podman's store (untimed)"
pm pull -q --tls-verify=false "$IMAGE" >/dev/null
pm run --rm --network none "$IMAGE" true

declare -A US=()
add() { US[$1]+="$2 "; }
time_cmd() {
	local key=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	"$@" >"$WORK/logs/last.log" 2>&1 || { tail -n 20 "$WORK/logs/last.log" >&2; die "$key failed: $*"; }
	t1=$EPOCHREALTIME
	add "$key" $((${t1/./} - ${t0/./}))
	printf '%s %s %s\n' "$DRIVER" "$key" $((${t1/./} - ${t0/./})) >>"$WORK/logs/samples"
}

# back_to_back KEY CMD...: CMD run BACK times, nothing waited for between runs, each timed
# as KEY; the whole in BACK_TOTAL (µs).
back_to_back() {
	local key=$1 t0 t1 i
	shift
	t0=$EPOCHREALTIME
	for ((i = 0; i < BACK; i++)); do
		time_cmd "$key" "$@"
	done
	t1=$EPOCHREALTIME
	BACK_TOTAL=$((${t1/./} - ${t0/./}))
}
# spread KEY: median, p90 and max of KEY's samples (µs).
spread() {
	# shellcheck disable=SC2086 # space-separated numbers
	printf '%s\n' ${US[$1]} | sort -n |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		       p = v[int(NR * 0.9 + 0.5)]; print m, p, v[NR] }'
}

# The pool of pods' infra sandboxes, as `pool ls` names it.
POD_POOL='(pod infra)'
# ready_count [KEY]: ready sandboxes of the image's pool (or of pool KEY).
ready_count() { pa_pool pool ls --format json | jq --arg key "${1:-$IMAGE}" '[.[] | select(.image == $key)][0].ready // 0'; }
# refilled [KEY]: waits (untimed) until the pool holds 8 ready sandboxes and no refiller runs.
refilled() {
	local i
	for ((i = 0; i < 3000; i++)); do
		if [[ $(ready_count "${1:-$IMAGE}") == "$POOL_SIZE" ]] && ! pgrep -f -- "$WORK/$DRIVER/pool .* pool refill" >/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	die "the pool was not refilled to $POOL_SIZE"
}
# settle: waits (untimed) until the plain store's monitors are gone (their exit commands
# finish a --rm removal after `run` returns).
settle() {
	local i
	for ((i = 0; i < 500; i++)); do
		pgrep -f -- "--dir $RUNROOT_PLAIN/podadm/" >/dev/null || return 0
		sleep 0.01
	done
	die "podadm's monitors did not finish"
}

LOAD=$(load_check)
ALL_JSON=()
for DRIVER in $DRIVERS; do
	US=()
	RUNROOT_POOL=$(mktemp -d /run/aurora-bench-pool-a.XXXXXX)
	RUNROOT_PLAIN=$(mktemp -d /run/aurora-bench-pool-b.XXXXXX)
	purge_tree "$WORK/$DRIVER" 2>/dev/null || true
	mkdir -p "$WORK/$DRIVER"
	case $DRIVER in
	overlay)
		STORAGE_ARGS=(--storage overlay)
		FS_DESC="overlay on $(fs_type "$WORK") at $WORK/$DRIVER"
		;;
	zfs)
		# Waits for the tests' turn: one zfs-fuse pool user at a time on the machine.
		declare -A ZPOOL_FACTS=()
		testenv_up ZPOOL_FACTS zfs-pool "$WORK/zfs-env" --size 8G
		ZFS_UP=1
		ZPOOL=${ZPOOL_FACTS[POOL]}
		zfs create "$ZPOOL/pool" && zfs create "$ZPOOL/plain"
		STORAGE_ARGS=(--storage zfs --zfs-dataset "$ZPOOL/POOLROOT")
		FS_DESC="zfs-fuse pool $ZPOOL (datasets $ZPOOL/pool, $ZPOOL/plain)"
		;;
	esac
	log "$DRIVER: $FS_DESC"
	log "$DRIVER: pulling $IMAGE into both podadm stores (untimed), a pool of $POOL_SIZE"
	pa_pool run --rm --quiet --network none "$IMAGE" true
	pa_plain run --rm --quiet --network none "$IMAGE" true
	pa_pool pool set "$IMAGE" --size "$POOL_SIZE" --network none >/dev/null
	refilled
	# The runtime's own run: a bundle podadm made for the image, run by runz directly.
	bundle_id=$(pa_plain create --network none "$IMAGE" true)
	BUNDLE=$WORK/$DRIVER/plain/podadm/containers/$bundle_id/bundle
	RUNZ_ROOT=$RUNROOT_PLAIN/runz-bench
	runz_run() { "$BIN/runz" --root "$RUNZ_ROOT" run --bundle "$BUNDLE" "bench-$1" </dev/null; }

	log "$DRIVER 1: $RUNS rounds: pooled, podadm without a pool, podman, runz run"
	tools=(pool plain podman runz)
	for ((i = 0; i < RUNS; i++)); do
		order=("${tools[@]:i%4}" "${tools[@]:0:i%4}")
		for t in "${order[@]}"; do
			# Every tool starts on a quiet machine: the refiller a pooled run started and
			# the exit commands of podadm's monitors are done (untimed).
			refilled
			settle
			case $t in
			pool) time_cmd pool pa_pool run --rm --network none "$IMAGE" true ;;
			plain) time_cmd plain pa_plain run --rm --network none "$IMAGE" true ;;
			podman) time_cmd podman pm run --rm --network none "$IMAGE" true ;;
			runz) time_cmd runz runz_run "$i" ;;
			esac
		done
	done

	log "$DRIVER 2: $BACK pooled runs back to back"
	refilled
	back_to_back back pa_pool run --rm --network none "$IMAGE" true
	back_total=$BACK_TOTAL
	ready_after=$(ready_count)
	refilled

	log "$DRIVER 2b: $BACK runs back to back without a pool"
	settle
	back_to_back back_plain pa_plain run --rm --network none "$IMAGE" true
	back_plain_total=$BACK_TOTAL
	settle

	log "$DRIVER 3: $RUNS rounds of a pod brought up (pod create, pod start): pooled, podadm without a pool, podman"
	pa_pool pool set --pod --size "$POOL_SIZE" --network none >/dev/null
	pod_up() { "$@" pod create --network none --name bench-pod >/dev/null && "$@" pod start bench-pod >/dev/null; }
	pod_tools=(pool plain podman)
	for ((i = 0; i < RUNS; i++)); do
		order=("${pod_tools[@]:i%3}" "${pod_tools[@]:0:i%3}")
		for t in "${order[@]}"; do
			refilled "$POD_POOL"
			case $t in
			pool)
				time_cmd pod_pool pod_up pa_pool
				pa_pool pod rm -f bench-pod >/dev/null
				;;
			plain)
				time_cmd pod_plain pod_up pa_plain
				pa_plain pod rm -f bench-pod >/dev/null
				;;
			podman)
				time_cmd pod_podman pod_up pm
				pm pod rm -f -t 0 bench-pod >/dev/null
				;;
			esac
		done
	done
	pa_pool pool rm --pod >/dev/null

	printf '\n%s (%s)\n%-22s %10s %16s\n' "$DRIVER" "$FS_DESC" scenario "ms" "pooled faster by"
	# shellcheck disable=SC2086 # space-separated numbers
	pool_us=$(median ${US[pool]})
	json="{\"driver\":\"$DRIVER\",\"runs\":$RUNS,\"back\":$BACK,\"pool_size\":$POOL_SIZE,\"load\":$LOAD"
	for key in pool plain podman runz; do
		# shellcheck disable=SC2086
		m=$(median ${US[$key]})
		ratio=$(awk -v a="$pool_us" -v b="$m" 'BEGIN { printf "%.2f", b / a }')
		printf '%-22s %10s %15sx\n' "run --rm ($key)" "$(fmt_ms "$m")" "$ratio"
		json+=",\"$key\":{\"median_us\":$m,\"ratio_to_pool\":$ratio}"
	done
	# shellcheck disable=SC2086
	plain_us=$(median ${US[plain]})
	# shellcheck disable=SC2086
	runz_us=$(median ${US[runz]})
	printf 'podadm without a pool / runz run: %s\n' \
		"$(awk -v a="$plain_us" -v b="$runz_us" 'BEGIN { printf "%.2f", a / b }')"
	read -r b_med b_p90 b_max < <(spread back)
	printf '%d back to back, pooled: median %s ms, p90 %s ms, max %s ms, total %s s; %s of %d ready after\n' \
		"$BACK" "$(fmt_ms "$b_med")" "$(fmt_ms "$b_p90")" "$(fmt_ms "$b_max")" \
		"$(fmt_s "$back_total")" "$ready_after" "$POOL_SIZE"
	read -r bp_med bp_p90 bp_max < <(spread back_plain)
	printf '%d back to back, no pool: median %s ms, p90 %s ms, max %s ms, total %s s\n' \
		"$BACK" "$(fmt_ms "$bp_med")" "$(fmt_ms "$bp_p90")" "$(fmt_ms "$bp_max")" \
		"$(fmt_s "$back_plain_total")"
	# shellcheck disable=SC2086
	pod_pool_us=$(median ${US[pod_pool]})
	for key in pod_pool pod_plain pod_podman; do
		# shellcheck disable=SC2086
		m=$(median ${US[$key]})
		ratio=$(awk -v a="$pod_pool_us" -v b="$m" 'BEGIN { printf "%.2f", b / a }')
		printf '%-22s %10s %15sx\n' "pod up (${key#pod_})" "$(fmt_ms "$m")" "$ratio"
		json+=",\"$key\":{\"median_us\":$m,\"ratio_to_pool\":$ratio}"
	done
	json+=",\"back_to_back\":{\"median_us\":$b_med,\"p90_us\":$b_p90,\"max_us\":$b_max,\"total_us\":$back_total,\"ready_after\":$ready_after}"
	json+=",\"back_to_back_plain\":{\"median_us\":$bp_med,\"p90_us\":$bp_p90,\"max_us\":$bp_max,\"total_us\":$back_plain_total}}"
	ALL_JSON+=("$json")
	cleanup_driver
done
echo
printf '%s\n' "${ALL_JSON[@]}"
