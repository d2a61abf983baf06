#!/usr/bin/env bash
#
# bench/commit.sh - commit benchmark: `imageadm commit` of a container with 1,000 changed
# files vs. `umoci repack` of a bundle and `podman commit` of a container with the same
# changes, from the same base image, on the same filesystem. A measurement, not a test: it
# reports numbers and has no threshold.
# bench/push.sh runs it after the push benchmark.
#
#     bench/commit.sh            # RUNS=1 for a quick look
#
# - Base image: busybox and a generated tree of $BASE_DIRS x $BASE_FILES files of 4 KiB
#   (20,000 files, 80 MiB by default) in one gzip layer, built with umoci once and cached in
#   $BENCH_DIR/commit-base; copied into a fresh imageadm store and used by umoci as it is.
# - Every round, untimed: `imageadm unpack` makes a container (storage driver $DRIVER),
#   `umoci unpack` a bundle, and `podman create` + `podman mount` a container (podman's
#   overlay driver, its store under $BENCH_DIR, the base image copied in once), and the same
#   script changes the three roots: 600 files rewritten, 300 added (in new directories), 100
#   deleted - 1,000 changed files.
# - Timed: `imageadm commit BUNDLE NEW`, `umoci repack --image LAYOUT:NEW BUNDLE` and
#   `podman commit CONTAINER NEW`, in an order that rotates each round. imageadm and umoci
#   write one new gzip layer, config and manifest; podman keeps its new layer uncompressed in
#   its store (it compresses when it pushes), which the output says.
# - Every tool's output is checked, every run: the new image's top layer (imageadm's from its
#   store, umoci's from its layout, podman's copied out with skopeo, untimed) must hold
#   exactly the 900 files, with their sizes, and the 100 whiteouts.
# - Prints medians, peak RSS and the ratio, then one JSON line as the last line of stdout.
#
# Env: IMAGEADM   imageadm binary (default: cargo build --release -p imageadm, run first)
#      RUNS       rounds (default 5)
#      DRIVER     imageadm's storage driver (default overlay; dir compares whole trees)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench)
# Requires: umoci podman skopeo jq time python3 busybox-static (scripts/install-deps.sh); root.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-5}
DRIVER=${DRIVER:-overlay}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
BASE_DIRS=100
BASE_FILES=200
check_positive_int RUNS "$RUNS"
need_cmds umoci podman skopeo jq python3
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

# layer_entries LAYER_BLOB | expected_entries: the non-directory entries of a layer, or of
# the layer `change` should give, as sorted "PATH SIZE" lines (a whiteout's size is 0).
layer_entries() {
	python3 - "$1" <<-'EOF'
		import sys, tarfile
		with tarfile.open(sys.argv[1], "r:*") as layer:
		    rows = [f"{m.name.removeprefix('./')} {m.size}" for m in layer if not m.isdir()]
		print("\n".join(sorted(rows)))
	EOF
}
expected_entries() {
	python3 - <<-'EOF'
		rows = ["data/d%03d/f%03d.txt %d" % (i % 100, i // 100, len("rewritten %d\n" % i) * 64) for i in range(600)]
		rows += ["data/new%d/n%03d.txt %d" % (i % 10, i, len("added %d\n" % i) * 64) for i in range(300)]
		rows += ["data/d%03d/.wh.f199.txt 0" % i for i in range(100)]
		print("\n".join(sorted(rows)))
	EOF
}

# check_layer TOOL LAYER_BLOB: die, naming the differences, unless the layer TOOL made holds
# exactly the changed files and whiteouts.
check_layer() {
	local differ
	[[ -f $2 ]] || die "$1: its new layer $2 is missing"
	differ=$(diff <(expected_entries) <(layer_entries "$2") | grep '^[<>]' || true)
	[[ -z $differ ]] && return 0
	printf '%s\n' "$differ" | head -n 20 >&2
	die "$1's new layer ($2) is not the change made: $(wc -l <<<"$differ") lines differ (< expected, > in the layer)"
}

# top_layer LAYOUT TAG: the path of the top layer's blob of LAYOUT:TAG.
top_layer() {
	local manifest
	manifest=$(oci_manifest "$1" "$2")
	echo "$1/blobs/$(jq -r '.layers[-1].digest | sub(":"; "/")' <<<"$manifest")"
}

STORE=$RUNS_DIR/store
LAYOUT=$RUNS_DIR/layout
PODMAN_OUT=$RUNS_DIR/podman-out
# (podman refuses a run root path of more than 50 characters.)
PODMAN_RUNROOT=$(mktemp -d /run/aurora-podman.XXXXXX)
on_exit rm -rf "$PODMAN_RUNROOT"
PODMAN_STORAGE="overlay@$RUNS_DIR/podman+$PODMAN_RUNROOT"
PODMAN=(podman --root "$RUNS_DIR/podman" --runroot "$PODMAN_RUNROOT" --storage-driver overlay
	--cgroup-manager cgroupfs --events-backend file)
log "copying the base image into $STORE, $LAYOUT and podman's store ($RUNS_DIR/podman)"
"$IMAGEADM_BIN" --quiet --root "$STORE" --storage "$DRIVER" copy "oci:$BASE/layout:base" bench/base:1
cp -a "$BASE/layout" "$LAYOUT"
skopeo copy --quiet "oci:$BASE/layout:base" "containers-storage:[$PODMAN_STORAGE]localhost/bench/base:1"
# podman_cleanup: podman's containers and images gone, quietly (stdout ends with the JSON).
podman_cleanup() {
	"${PODMAN[@]}" rm -af >/dev/null 2>&1 || warn "podman rm -af failed"
	"${PODMAN[@]}" rmi -af >/dev/null 2>&1 || warn "podman rmi -af failed"
}
on_exit podman_cleanup

LOADAVG=$(load_check)
# shellcheck disable=SC2034 # filled and read through namerefs (record_run, medians)
WALL_US_imageadm=() RSS_KIB_imageadm=() WALL_US_umoci=() RSS_KIB_umoci=() WALL_US_podman=() RSS_KIB_podman=()
TOOLS=(imageadm umoci podman)
for ((round = 1; round <= RUNS; round++)); do
	shift_by=$(((round - 1) % 3))
	order=("${TOOLS[@]:shift_by}" "${TOOLS[@]:0:shift_by}")
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
		podman)
			"${PODMAN[@]}" create -q --name "commit-$round" localhost/bench/base:1 /bin/sh >/dev/null ||
				die "podman create failed"
			rootfs=$("${PODMAN[@]}" mount "commit-$round") || die "podman mount failed"
			change "$rootfs"
			sync
			timed "$logf" "${PODMAN[@]}" commit -q "commit-$round" "localhost/bench/new:$round"
			;;
		esac || die "$tool failed (see $logf)"
		record_run "$tool"
	done
	# Every tool's output, checked the same way (untimed).
	check_layer imageadm "$STORE/blobs/$(jq -r '.layer | sub(":"; "/")' "$RUNS_DIR/imageadm-$round.log")"
	check_layer umoci "$(top_layer "$LAYOUT" "new-$round")"
	skopeo copy --quiet "containers-storage:[$PODMAN_STORAGE]localhost/bench/new:$round" "oci:$PODMAN_OUT:new-$round" ||
		die "skopeo could not copy podman's localhost/bench/new:$round out"
	check_layer podman "$(top_layer "$PODMAN_OUT" "new-$round")"
	log "  every tool's new layer holds the 900 files and 100 whiteouts"
	"$IMAGEADM_BIN" --quiet --root "$STORE" --storage "$DRIVER" rm-bundle "$RUNS_DIR/imageadm-$round"
	rm -rf "$RUNS_DIR/umoci-$round"
	if ! { "${PODMAN[@]}" umount "commit-$round" >/dev/null && "${PODMAN[@]}" rm "commit-$round" >/dev/null; }; then
		die "podman could not remove container commit-$round"
	fi
done

declare -A MED_US MED_RSS
medians imageadm umoci podman
ratio=$(awk -v u="${MED_US[umoci]}" -v i="${MED_US[imageadm]}" 'BEGIN { printf "%.2f", u / i }')
pratio=$(awk -v p="${MED_US[podman]}" -v i="${MED_US[imageadm]}" 'BEGIN { printf "%.2f", p / i }')
echo
echo "Base:   busybox + $((BASE_DIRS * BASE_FILES)) files of 4 KiB; 1,000 files changed (600 rewritten, 300 added, 100 deleted)"
echo "Runs:   $RUNS per tool, alternating; imageadm storage driver: $DRIVER, on $(fs_type "$RUNS_DIR")"
echo
printf '%-10s %10s %22s\n' tool "median s" "median peak RSS MiB"
for tool in imageadm umoci podman; do
	printf '%-10s %10s %22s\n' "$tool" "$(fmt_s "${MED_US[$tool]}")" "$(kib_mib "${MED_RSS[$tool]}")"
done
echo
echo "imageadm commit: ${ratio}x the speed of umoci repack (median wall clock, umoci/imageadm)"
echo "imageadm commit: ${pratio}x the speed of podman commit (median wall clock, podman/imageadm)"
echo "Note: podman commit keeps its layer uncompressed in its store (it compresses on push);"
echo "      imageadm and umoci write gzip layers. Every tool's layer was checked to hold the change."
jq -nc --argjson runs "$RUNS" --arg driver "$DRIVER" \
	--argjson i "${MED_US[imageadm]}" --argjson u "${MED_US[umoci]}" \
	--argjson ir "${MED_RSS[imageadm]}" --argjson ur "${MED_RSS[umoci]}" \
	--argjson p "${MED_US[podman]}" --argjson pr "${MED_RSS[podman]}" --argjson pratio "$pratio" \
	--argjson ratio "$ratio" --argjson load "$LOADAVG" \
	'{benchmark: "commit", runs: $runs, driver: $driver, changed_files: 1000, loadavg_at_start: $load,
	  imageadm: {median_s: ($i / 1e6), median_peak_rss_kib: $ir},
	  umoci: {median_s: ($u / 1e6), median_peak_rss_kib: $ur}, speedup_umoci_over_imageadm: $ratio,
	  podman: {median_s: ($p / 1e6), median_peak_rss_kib: $pr, layer: "uncompressed in its store"},
	  speedup_podman_over_imageadm: $pratio, layers_checked: true}'
