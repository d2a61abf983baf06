#!/usr/bin/env bash
#
# bench/runtime.sh - runtime benchmark: the life of a container running /bin/true, from
# the same busybox bundle, with runz, crun and runc. A measurement, not a test: it reports
# numbers and has no pass/fail threshold.
#
#     bench/runtime.sh            # as root; RUNS=10 for a quick look
#
# - Bundle: `runc spec` defaults (no terminal) over a rootfs of the host's static busybox,
#   running /bin/true, in $BENCH_DIR/runtime/bundle. The same bundle for every runtime.
# - Each round runs every runtime once, in an order that rotates from round to round, and
#   times (wall clock and peak RSS of the runtime process, with GNU time):
#     run      RUNTIME run --bundle B ID             (create + start + wait + delete in one)
#     steps    RUNTIME create --bundle B ID; RUNTIME start ID; RUNTIME state ID until
#              "stopped"; RUNTIME delete ID           (the lifecycle as conmon drives it)
#   Every run is checked (exit status 0, no container left in the runtime's state). Each run
#   starts after GAP seconds of quiet (untimed): the kernel's first cgroup move after a quiet
#   spell waits for an RCU grace period, and back-to-back runs would let one runtime inherit
#   the wait another paid.
# - Fair ground: crun 1.8 refuses this host's hybrid cgroup layout, so the script re-runs
#   itself in a private mount namespace where /sys/fs/cgroup/unified is unmounted, and all
#   three runtimes run there (each then uses the cgroup v1 hierarchies). Each runtime
#   keeps its state in a directory of its own under /run.
# - Prints medians (ms) and peak RSS (MiB) per runtime and phase, the ratios against runz,
#   then one JSON line as the last line of stdout. Progress on stderr.
#
# Env: RUNZ       runz binary (default: cargo build --profile runtime -p runz, run first:
#                 the small-binary profile that installations use)
#      RUNS       rounds (default 50)
#      GAP        seconds of quiet before each timed run (default 0.1; 0 for back to back)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench)
# Requires: root; runc, crun, busybox-static, jq, time (scripts/install-deps.sh).

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-50}
GAP=${GAP:-0.1}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
check_positive_int RUNS "$RUNS"
(($(id -u) == 0)) || die "bench/runtime.sh needs root"
need_cmds runc crun busybox jq /usr/bin/time unshare

if [[ ${AURORA_RUNTIME_BENCH_NS:-} != 1 ]]; then
	log "re-running in a private mount namespace without /sys/fs/cgroup/unified (for crun)"
	exec unshare -m --propagation private env AURORA_RUNTIME_BENCH_NS=1 "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then
	umount /sys/fs/cgroup/unified
fi

if [[ -z ${RUNZ:-} ]]; then
	# Built every time (a no-op when up to date): the numbers are those of the source as it is.
	log "building runz (profile runtime)"
	(cd "$AURORA_ROOT_DIR" && cargo build --profile runtime --locked -p runz >&2)
	RUNZ=${CARGO_TARGET_DIR:-$AURORA_ROOT_DIR/target}/runtime/runz
fi
[[ -x $RUNZ ]] || die "RUNZ=$RUNZ is not an executable file"

work=$BENCH_DIR/runtime
rm -rf "$work"
mkdir -p "$work/bundle/rootfs/bin" "$work/logs"
bundle=$work/bundle
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
ln -s busybox "$bundle/rootfs/bin/sh"
runc spec --bundle "$bundle"
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"

runtimes=(runz crun runc)
declare -A bin=([runz]=$RUNZ [crun]=crun [runc]=runc)
declare -A state_root
for r in "${runtimes[@]}"; do
	state_root[$r]=$(mktemp -d "/run/aurora-bench-$r.XXXXXX")
	on_exit rm -rf "${state_root[$r]}"
done

rt() { "${bin[$1]}" --root "${state_root[$1]}" "${@:2}"; }

declare -A us rss
for phase in run steps; do
	for r in "${runtimes[@]}"; do
		us[$phase.$r]=""
		rss[$phase.$r]=""
	done
done

log "warming up (one untimed run each)"
for r in "${runtimes[@]}"; do
	rt "$r" run --bundle "$bundle" "warm-$r" </dev/null >/dev/null
done

load=$(load_check)
log "$RUNS rounds of: run, then create/start/state/delete, for ${runtimes[*]}"
for ((i = 0; i < RUNS; i++)); do
	order=("${runtimes[@]:i%3}" "${runtimes[@]:0:i%3}")
	for r in "${order[@]}"; do
		sleep "$GAP"
		timed "$work/logs/$r.run.log" "${bin[$r]}" --root "${state_root[$r]}" run --bundle "$bundle" "r$i" </dev/null
		us[run.$r]+="$TIMED_US "
		rss[run.$r]+="$TIMED_RSS_KIB "
		# GNU time reports the peak of one process; for the steps, that of `create`,
		# the step that sets the container up.
		sleep "$GAP"
		t0=$EPOCHREALTIME
		/usr/bin/time -f %M -o "$work/logs/$r.create.rss" "${bin[$r]}" --root "${state_root[$r]}" create --bundle "$bundle" "s$i" </dev/null >"$work/logs/$r.steps.log" 2>&1 ||
			die "$r create failed: $(tail -n 5 "$work/logs/$r.steps.log")"
		rt "$r" start "s$i"
		for _ in $(seq 1 2000); do
			[[ $(rt "$r" state "s$i" | jq -r .status) == stopped ]] && break
		done
		rt "$r" delete "s$i"
		t1=$EPOCHREALTIME
		us[steps.$r]+="$((${t1/./} - ${t0/./})) "
		rss[steps.$r]+="$(tail -n 1 "$work/logs/$r.create.rss") "
		left=$(rt "$r" list -q 2>/dev/null | wc -l)
		((left == 0)) || die "$r left $left container(s) behind"
	done
	((i % 10 == 9)) && log "round $((i + 1))/$RUNS"
done

printf '\n%-8s %-6s %12s %12s %10s %14s\n' runtime phase "median ms" "min ms" "RSS MiB" "runz faster by"
json="{\"runs\":$RUNS,\"gap_s\":$GAP,\"load\":$load"
for phase in run steps; do
	# shellcheck disable=SC2086 # the lists are space-separated numbers
	base=$(median ${us[$phase.runz]})
	for r in "${runtimes[@]}"; do
		# shellcheck disable=SC2086
		m=$(median ${us[$phase.$r]})
		# shellcheck disable=SC2086
		mn=$(min_of ${us[$phase.$r]})
		# shellcheck disable=SC2086
		peak=$(max_of ${rss[$phase.$r]})
		ratio=$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
		printf '%-8s %-6s %12s %12s %10s %13sx\n' "$r" "$phase" "$(fmt_ms "$m")" "$(fmt_ms "$mn")" "$(kib_mib "$peak")" "$ratio"
		json+=",\"$phase.$r\":{\"median_us\":$m,\"min_us\":$mn,\"peak_rss_kib\":$peak,\"ratio_vs_runz\":$ratio}"
	done
done
echo
echo "$json}"
