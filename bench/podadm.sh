#!/usr/bin/env bash
#
# bench/podadm.sh - container engine benchmark: podadm vs. podman on the same image, cached
# in each tool's store on the same filesystem, alternating runs. A measurement, not a test.
#
#     bench/podadm.sh            # as root; RUNS=5 MANY=10 LINES=100000 for a quick look
#
# - Image: one layer of static busybox with every applet (scripts/images.sh
#   build_busybox_image), pushed to the local registry as 127.0.0.1:$PORT/bench/applets:1
#   and pulled once (untimed) into podadm's store and podman's.
# - Stores: podadm --root $BENCH_DIR/podadm/root (overlay driver), run root under /run;
#   podman --root $BENCH_DIR/podadm/podman (overlay), its own run root under /run,
#   --cgroup-manager cgroupfs, --events-backend file. Both on $BENCH_DIR's filesystem.
# - Scenarios, each tool in turn, first tool alternating per round:
#   1. none    RUNS x `run --rm --network none IMAGE true`
#   2. bridge  RUNS x `run --rm -p 127.0.0.1:PORT:80 IMAGE true` (each tool's default bridge
#              network; a different free port each run). Timed until the command returns:
#              podadm's returns once the container is removed and tears the network down
#              after (in the monitor's exit command), so each run waits, untimed, for
#              podadm's monitors to finish before the next one starts.
#   3. many    MANY x `run -d --network none IMAGE sleep 600`, then `ps -a`, then `rm -f -t 0` of
#              them all: the total, and the peak RSS (VmHWM) of every monitor (podadm's
#              aurora-monitor, podman's conmon) while the containers run
#   4. logs    a container printing LINES lines (`seq LINES`), run to its end, then the
#              time `logs` takes to return them all (the count is checked)
# - Prints medians (ms) and ratios (podman / podadm), then one JSON line last on stdout.
#
# Env: PODADM     podadm binary (default: cargo build --release -p podadm; runz and
#                 aurora-monitor built with the small `runtime` profile, all copied into
#                 $BENCH_DIR/podadm/bin, where podadm finds them beside itself)
#      RUNS       rounds of scenarios 1 and 2 (default 20)
#      MANY       containers in scenario 3 (default 50)
#      LINES      lines in scenario 4 (default 1000000)
#      PORT       registry port on 127.0.0.1 (default 5055)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench)
# (podman: runc, see PODMAN_CONF below.)
# Requires: root; podman, skopeo, umoci, docker-registry, busybox-static, jq, curl, time.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-20}
MANY=${MANY:-50}
LINES=${LINES:-1000000}
PORT=${PORT:-5055}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
check_positive_int RUNS "$RUNS"
check_positive_int MANY "$MANY"
check_positive_int LINES "$LINES"
(($(id -u) == 0)) || die "bench/podadm.sh needs root"
need_cmds podman skopeo umoci docker-registry busybox jq curl /usr/bin/time

WORK=$BENCH_DIR/podadm
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

# --- stores ---------------------------------------------------------------------
ROOT=$WORK/root
PODMAN_ROOT=$WORK/podman
RUNROOT=$(mktemp -d /run/aurora-bench-podadm.XXXXXX)
PODMAN_RUNROOT=$(mktemp -d /run/aurora-bench-podman.XXXXXX)
pa() { "$BIN/podadm" --root "$ROOT" --runroot "$RUNROOT" --storage overlay "$@"; }
# Root here lacks CAP_SYS_RESOURCE: podman's default rlimits (1048576 open files and
# processes) cannot be set, and crun 1.8 refuses the hybrid cgroup layout, so podman runs
# with runc and rlimits within the hard limits.
PODMAN_CONF=$WORK/containers.conf
mkdir -p "$WORK"
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' \
	"$(ulimit -Hn)" "$(ulimit -Hn)" >"$PODMAN_CONF"
export CONTAINERS_CONF=$PODMAN_CONF
pm() { podman --root "$PODMAN_ROOT" --runroot "$PODMAN_RUNROOT" --cgroup-manager cgroupfs --events-backend file "$@"; }
cleanup_stores() {
	pa rm -f -t 0 --all >/dev/null 2>&1 || true
	pm rm -f -t 0 --all >/dev/null 2>&1 || true
	# podadm's network namespaces live under a shared bind mount of RUNROOT/netns.
	umount_tree "$RUNROOT" 2>/dev/null || true
	pm system reset -f >/dev/null 2>&1 || true
	umount_tree "$WORK" 2>/dev/null || true
	rm -rf "$RUNROOT" "$PODMAN_RUNROOT"
}
on_exit cleanup_stores
if [[ -e $ROOT || -e $PODMAN_ROOT ]]; then
	purge_tree "$ROOT" 2>/dev/null || true
	rm -rf "$PODMAN_ROOT"
fi
mkdir -p "$WORK/logs"

busybox_image_in_registry "$IMAGE" "$WORK"
log "pulling $IMAGE into both stores (untimed)"
pa run --rm --quiet --network none "$IMAGE" true
pm pull -q --tls-verify=false "$IMAGE" >/dev/null
pm run --rm --network none "$IMAGE" true

declare -A US=()
add() { US[$1]+="$2 "; }

# time_cmd KEY CMD...: runs CMD (output discarded, status must be 0) and adds its µs to KEY.
time_cmd() {
	local key=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	"$@" >"$WORK/logs/last.log" 2>&1 || { tail -n 20 "$WORK/logs/last.log" >&2; die "$key failed: $*"; }
	t1=$EPOCHREALTIME
	add "$key" $((${t1/./} - ${t0/./}))
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

LOAD=$(load_check)
tools=(podadm podman)
run_tool() {
	local tool=$1
	shift
	if [[ $tool == podadm ]]; then pa "$@"; else pm "$@"; fi
}

# settle: waits (untimed) until no podadm monitor of this run root is left. `run --rm`
# returns once the container is removed, and the network plugin's teardown finishes after
# it in the monitor's exit command; this keeps that work out of the next timed run.
settle() {
	local i
	for ((i = 0; i < 500; i++)); do
		pgrep -f -- "--dir $RUNROOT/podadm/" >/dev/null || return 0
		sleep 0.01
	done
	die "podadm's monitors did not finish"
}

log "1-2: $RUNS rounds of run --rm --network none, and run --rm -p on the default bridge"
for ((i = 0; i < RUNS; i++)); do
	order=("${tools[@]:i%2}" "${tools[@]:0:i%2}")
	for t in "${order[@]}"; do
		time_cmd "none.$t" run_tool "$t" run --rm --network none "$IMAGE" true
		settle
		time_cmd "bridge.$t" run_tool "$t" run --rm -p "127.0.0.1:$(free_port):80" "$IMAGE" true
		settle
	done
done

# monitor_peaks NAME: VmHWM (KiB) of every running process called NAME, one per line.
monitor_peaks() {
	local pid
	for pid in $(pgrep -x "$1"); do
		awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true
	done
}

log "3: $MANY detached containers, ps -a, rm -f of all (podadm, then podman)"
declare -A MONITOR_PEAK=()
for t in "${tools[@]}"; do
	t0=$EPOCHREALTIME
	for ((n = 0; n < MANY; n++)); do
		run_tool "$t" run -d --network none --name "many$n" "$IMAGE" sleep 600 >/dev/null
	done
	t1=$EPOCHREALTIME
	run_tool "$t" ps -a >/dev/null
	t2=$EPOCHREALTIME
	names=()
	for ((n = 0; n < MANY; n++)); do names+=("many$n"); done
	if [[ $t == podadm ]]; then name=aurora-monitor; else name=conmon; fi
	MONITOR_PEAK[$t]=$(monitor_peaks "$name" | sort -n | tail -n 1)
	run_tool "$t" rm -f -t 0 "${names[@]}" >/dev/null
	t3=$EPOCHREALTIME
	add "many_run.$t" $((${t1/./} - ${t0/./}))
	add "many_ps.$t" $((${t2/./} - ${t1/./}))
	add "many_rm.$t" $((${t3/./} - ${t2/./}))
	add "many_total.$t" $((${t3/./} - ${t0/./}))
	left=$(run_tool "$t" ps -a -q | wc -l)
	((left == 0)) || die "$t left $left containers"
done

log "4: a container printing $LINES lines, then logs of them all"
for t in "${tools[@]}"; do
	time_cmd "logs_run.$t" run_tool "$t" run --name "lines" --network none "$IMAGE" seq "$LINES"
	t0=$EPOCHREALTIME
	count=$(run_tool "$t" logs lines | wc -l)
	t1=$EPOCHREALTIME
	((count == LINES)) || die "$t logs returned $count lines, not $LINES"
	add "logs.$t" $((${t1/./} - ${t0/./}))
	run_tool "$t" rm -f lines >/dev/null
done

printf '\n%-12s %14s %14s %16s\n' scenario "podadm ms" "podman ms" "podadm faster by"
json="{\"runs\":$RUNS,\"many\":$MANY,\"lines\":$LINES,\"load\":$LOAD"
for key in none bridge many_run many_ps many_rm many_total logs_run logs; do
	# shellcheck disable=SC2086 # space-separated numbers
	a=$(median ${US[$key.podadm]})
	# shellcheck disable=SC2086
	b=$(median ${US[$key.podman]})
	ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
	printf '%-12s %14s %14s %15sx\n' "$key" "$(fmt_ms "$a")" "$(fmt_ms "$b")" "$ratio"
	json+=",\"$key\":{\"podadm_us\":$a,\"podman_us\":$b,\"ratio\":$ratio}"
done
printf '\nmonitor peak RSS: aurora-monitor %s MiB, conmon %s MiB\n' \
	"$(kib_mib "${MONITOR_PEAK[podadm]:-0}")" "$(kib_mib "${MONITOR_PEAK[podman]:-0}")"
json+=",\"monitor_peak_rss_kib\":{\"aurora-monitor\":${MONITOR_PEAK[podadm]:-0},\"conmon\":${MONITOR_PEAK[podman]:-0}}"
echo
echo "$json}"
