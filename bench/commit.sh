#!/usr/bin/env bash
#
# bench/commit.sh - commit benchmark: `imageadm commit` of a container with 1,000 changed
# files vs. `umoci repack` of a bundle with the same changes, from the same base image, on
# the same filesystem. A measurement, not a test: it reports numbers and has no threshold.
# bench/push.sh runs it after the push benchmark.
#
#     bench/commit.sh            # RUNS=1 for a quick look
#
# - Base image: busybox and a generated tree of $BASE_DIRS x $BASE_FILES files of 4 KiB
#   (20,000 files, 80 MiB by default) in one gzip layer, built with umoci once and cached in
#   $BENCH_DIR/commit-base; copied into a fresh imageadm store and used by umoci as it is.
# - Every round, untimed: `imageadm unpack` makes a container (storage driver $DRIVER) and
#   `umoci unpack` a bundle, and the same script changes both roots: 600 files rewritten,
#   300 added (in new directories), 100 deleted - 1,000 changed files.
# - Timed: `imageadm commit BUNDLE NEW` against `umoci repack --image LAYOUT:NEW BUNDLE`, in
#   alternating order; both write one new gzip layer, config and manifest. Each run is
#   checked: imageadm's new layer holds the 900 files and 100 whiteouts.
# - Prints medians, peak RSS and the ratio, then one JSON line as the last line of stdout.
#
# Env: IMAGEADM   imageadm binary (default: cargo build --release -p imageadm, run first)
#      RUNS       rounds (default 5)
#      DRIVER     imageadm's storage driver (default overlay; dir compares whole trees)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench)
# Requires: umoci jq time python3 busybox-static (scripts/install-deps.sh); root.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-5}
DRIVER=${DRIVER:-overlay}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
BASE_DIRS=100
BASE_FILES=200
check_positive_int RUNS "$RUNS"
need_cmds umoci jq python3
[[ -x /usr/bin/time ]] || die "GNU time missing (apt-get install -y time)"
[[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install -y busybox-static)"
((EUID == 0)) || die "run as root (overlay mounts, owners)"

IMAGEADM_BIN=$(aurora_bin imageadm --build) # what the source says now, never a stale binary
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
BASE=$BENCH_DIR/commit-base
RUNS_DIR=$BENCH_DIR/commit-runs
purge_tree "$RUNS_DIR" 2>/dev/null || rm -rf "$RUNS_DIR"
mkdir -p "$RUNS_DIR"
on_exit purge_tree "$RUNS_DIR"

# build_base: the base image layout, once.
build_base() {
	log "building the base image in $BASE (busybox + $((BASE_DIRS * BASE_FILES)) files)"
	rm -rf "$BASE"
	mkdir -p "$BASE"
	oci_new "$BASE/layout" base "$BASE/bundle"
	local rootfs=$BASE/bundle/rootfs
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
	cp /bin/busybox "$rootfs/bin/busybox"
	ln -s busybox "$rootfs/bin/sh"
	python3 - "$rootfs/data" "$BASE_DIRS" "$BASE_FILES" <<-'EOF'
		import os, random, sys
		root, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
		rng = random.Random(42)
		for d in range(dirs):
		    path = os.path.join(root, f"d{d:03}")
		    os.makedirs(path)
		    for f in range(files):
		        words = " ".join(str(rng.randrange(1 << 30)) for _ in range(400))
		        with open(os.path.join(path, f"f{f:03}.txt"), "w") as out:
		            out.write(words[:4096])
	EOF
	oci_layer "$BASE/layout" base "$BASE/bundle" "busybox and the data tree"
	oci_config "$BASE/layout" base --config.cmd /bin/sh
	rm -rf "$BASE/bundle"
	touch "$BASE/built"
}
[[ -f $BASE/built ]] || build_base

# change ROOT: 600 files rewritten, 300 added, 100 deleted.
change() {
	[[ -d $1/data/d000 ]] || die "change: $1 holds no base image tree"
	python3 - "$1/data" <<-'EOF'
		import os, sys
		data = sys.argv[1]
		for i in range(600):
		    with open(os.path.join(data, f"d{i % 100:03}", f"f{i // 100:03}.txt"), "w") as out:
		        out.write(f"rewritten {i}\n" * 64)
		for i in range(300):
		    path = os.path.join(data, f"new{i % 10}")
		    os.makedirs(path, exist_ok=True)
		    with open(os.path.join(path, f"n{i:03}.txt"), "w") as out:
		        out.write(f"added {i}\n" * 64)
		for i in range(100):
		    os.remove(os.path.join(data, f"d{i:03}", "f199.txt"))
	EOF
}

STORE=$RUNS_DIR/store
LAYOUT=$RUNS_DIR/layout
log "copying the base image into $STORE and $LAYOUT"
"$IMAGEADM_BIN" --quiet --root "$STORE" --storage "$DRIVER" copy "oci:$BASE/layout:base" bench/base:1
cp -a "$BASE/layout" "$LAYOUT"

LOADAVG=$(load_check)
# shellcheck disable=SC2034 # filled and read through namerefs (record_run, medians)
WALL_US_imageadm=() RSS_KIB_imageadm=() WALL_US_umoci=() RSS_KIB_umoci=()
for ((round = 1; round <= RUNS; round++)); do
	order=(imageadm umoci)
	((round % 2)) || order=(umoci imageadm)
	log "round $round/$RUNS"
	for tool in "${order[@]}"; do
		logf=$RUNS_DIR/$tool-$round.log
		bundle=$RUNS_DIR/$tool-$round
		case $tool in
		imageadm)
			rootfs=$("$IMAGEADM_BIN" --root "$STORE" --storage "$DRIVER" --format json unpack bench/base:1 "$bundle" | jq -r .rootfs) ||
				die "imageadm unpack failed"
			change "$rootfs"
			sync
			timed "$logf" "$IMAGEADM_BIN" --root "$STORE" --storage "$DRIVER" --format json commit "$bundle" "bench/new:$round"
			[[ $(jq .whiteouts "$logf") == 100 ]] || die "imageadm's layer: $(cat "$logf")"
			;;
		umoci)
			umoci unpack --image "$LAYOUT:base" "$bundle" >/dev/null || die "umoci unpack failed"
			change "$bundle/rootfs"
			sync
			timed "$logf" umoci repack --image "$LAYOUT:new-$round" "$bundle"
			;;
		esac || die "$tool failed (see $logf)"
		record_run "$tool"
	done
	"$IMAGEADM_BIN" --quiet --root "$STORE" --storage "$DRIVER" rm-bundle "$RUNS_DIR/imageadm-$round"
	rm -rf "$RUNS_DIR/umoci-$round"
done

declare -A MED_US MED_RSS
medians imageadm umoci
ratio=$(awk -v u="${MED_US[umoci]}" -v i="${MED_US[imageadm]}" 'BEGIN { printf "%.2f", u / i }')
echo
echo "Base:   busybox + $((BASE_DIRS * BASE_FILES)) files of 4 KiB; 1,000 files changed (600 rewritten, 300 added, 100 deleted)"
echo "Runs:   $RUNS per tool, alternating; imageadm storage driver: $DRIVER, on $(fs_type "$RUNS_DIR")"
echo
printf '%-10s %10s %22s\n' tool "median s" "median peak RSS MiB"
for tool in imageadm umoci; do
	printf '%-10s %10s %22s\n' "$tool" "$(fmt_s "${MED_US[$tool]}")" "$(kib_mib "${MED_RSS[$tool]}")"
done
echo
echo "imageadm commit: ${ratio}x the speed of umoci repack (median wall clock, umoci/imageadm)"
jq -nc --argjson runs "$RUNS" --arg driver "$DRIVER" \
	--argjson i "${MED_US[imageadm]}" --argjson u "${MED_US[umoci]}" \
	--argjson ir "${MED_RSS[imageadm]}" --argjson ur "${MED_RSS[umoci]}" \
	--argjson ratio "$ratio" --argjson load "$LOADAVG" \
	'{benchmark: "commit", runs: $runs, driver: $driver, changed_files: 1000, loadavg_at_start: $load,
	  imageadm: {median_s: ($i / 1e6), median_peak_rss_kib: $ir},
	  umoci: {median_s: ($u / 1e6), median_peak_rss_kib: $ur}, speedup_umoci_over_imageadm: $ratio}'
