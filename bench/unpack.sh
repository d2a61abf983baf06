#!/usr/bin/env bash
#
# bench/unpack.sh - unpack benchmark: `imageadm unpack` (layers laid down once as a chain of
# snapshots, every container a clone) vs. `umoci unpack`, and a second container (a clone)
# vs. copying a rootfs, per storage driver. A measurement, not a test: it reports numbers
# and has no pass/fail threshold.
#
#     bench/unpack.sh          # as root; RUNS=1 CLONE_RUNS=3 DRIVERS=dir for a quick look
#
# - Images: bench/pull.sh's image (>= 300 MB compressed in 3 gzip layers, built once and
#   cached in $BENCH_DIR, pushed to a local registry as 127.0.0.1:$PORT/bench/big:latest)
#   and the demo's small busybox image (127.0.0.1:$PORT/bench/busybox:latest). Both are
#   pulled with imageadm into a store once, and the store's blobs read once (untimed) so
#   both tools find them in the page cache.
# - Storage, per driver (all on sparse files or directories under $BENCH_DIR/unpack,
#   all removed at exit):
#     overlay, dir  a directory on $BENCH_DIR's filesystem (ext4 on the root fs here)
#     btrfs         a new btrfs on a sparse file, loop-mounted (aurora-testenv btrfs, the
#                   tests' BtrfsVolume); the store is pulled onto it too (imageadm keeps
#                   btrfs storage under ROOT/storage)
#     zfs           a pool on a sparse file (aurora-testenv zfs-pool, the tests' ZfsPool:
#                   zfs-fuse started if none answers, and the tests' machine-wide turn held
#                   while the pool lives); imageadm's storage in dataset POOL/aurora
# - First unpack, cold storage: RUNS rounds, alternating which tool goes first, of
#     imageadm --root ROOT --storage D [--zfs-dataset POOL/aurora] unpack REF BUNDLE
#     umoci unpack --image STORE:REF DIR/bundle        (DIR on the driver's filesystem)
#   Both start from nothing every run: imageadm gets a new store root (blobs hard-linked
#   from the pulled store, ROOT/storage absent) and, for zfs, a new $ZPOOL/aurora
#   dataset; umoci a new empty directory (zfs: a new dataset). `sync` before each run.
#   Every run is checked (the bundle's rootfs must hold a file of the image's top layer).
#   The first run of each tool lists its rootfs (path, type, mode, owner, file size, link
#   target): imageadm's and umoci's must be the same, or the script fails naming the paths.
#   umoci's unpack also hashes every file it writes (the mtree manifest its repack needs),
#   which the output says: the umoci/imageadm ratio is not unpack speed alone.
# - Second container: with the layers laid down and a first container made,
#   CLONE_RUNS x `imageadm unpack` of the same image to another bundle (a clone only),
#   vs. `cp -a --reflink=auto` of the first container's rootfs to a new directory on the
#   same filesystem (COPY_RUNS x for the big image, CLONE_RUNS x for the small one), for
#   the big image and the small one: the clone costs the same whatever the image size.
#   On overlay, also the peer a user would pick: podman (overlay driver, its store on the
#   same filesystem, both images pulled into it untimed), CLONE_RUNS x `podman create` of an
#   image already in its store plus `podman mount` of the container's root, per image; the
#   first root of each image must list the same as imageadm's container, or the script fails.
# - Prints a table per driver (medians and ratios), then one JSON line as the last line
#   of stdout. Progress on stderr. Warns when the load average is high.
#
# Until imageadm has `unpack` (checked with `imageadm unpack --help`) this fails at the
# start; BASELINE_ONLY=1 then measures the rest (umoci; cp -a of a umoci-made rootfs).
#
# Env: IMAGEADM       imageadm binary (default: cargo build --release -p imageadm, run first)
#      RUNS           first-unpack rounds per driver (default 5)
#      CLONE_RUNS     second containers per image and driver (default 20)
#      COPY_RUNS      copies of the big rootfs per driver (default $RUNS)
#      DRIVERS        drivers to measure (default "overlay zfs btrfs dir")
#      PORT           registry port on 127.0.0.1 (default 5055)
#      BENCH_DIR      work dir (default /var/tmp/aurora-bench, shared with bench/pull.sh)
#      FS_SIZE        size of the sparse btrfs and zfs pool files (default 16G)
#      BASELINE_ONLY  1: do not run imageadm unpack, measure umoci and cp only
# Requires: root; skopeo umoci docker-registry curl jq time podman, btrfs-progs, zfs-fuse
# (see AURORA_APT_PACKAGES in scripts/lib.sh).

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-5}
CLONE_RUNS=${CLONE_RUNS:-20}
COPY_RUNS=${COPY_RUNS:-$RUNS}
DRIVERS=${DRIVERS:-overlay zfs btrfs dir}
PORT=${PORT:-5055}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
FS_SIZE=${FS_SIZE:-16G}
ZPOOL= # the zfs pool aurora-testenv made (setup_driver zfs)
BASELINE_ONLY=${BASELINE_ONLY:-0}
declare -A IMG_REF=([big]=127.0.0.1:$PORT/bench/big:latest [small]=127.0.0.1:$PORT/bench/busybox:latest)
REF=${IMG_REF[big]}

# --- checks -----------------------------------------------------------------
check_positive_int RUNS "$RUNS"
check_positive_int CLONE_RUNS "$CLONE_RUNS"
check_positive_int COPY_RUNS "$COPY_RUNS"
[[ $BASELINE_ONLY == [01] ]] || die "BASELINE_ONLY must be 0 or 1, got '$BASELINE_ONLY'"
[[ $FS_SIZE =~ ^[0-9]+[KMGT]?$ ]] || die "FS_SIZE must be a size like 16G, got '$FS_SIZE'"
read -ra DRIVER_LIST <<<"$DRIVERS"
((${#DRIVER_LIST[@]} > 0)) || die "DRIVERS is empty"
declare -A seen=()
for d in "${DRIVER_LIST[@]}"; do
	case $d in
	overlay | dir) ;;
	btrfs) need_cmds mkfs.btrfs btrfs losetup ;;
	zfs) need_cmds zfs-fuse zpool zfs ;;
	*) die "unknown driver '$d' in DRIVERS (known: overlay zfs btrfs dir)" ;;
	esac
	[[ -z ${seen[$d]:-} ]] || die "driver '$d' is twice in DRIVERS"
	seen[$d]=1
done
unset seen
((EUID == 0)) || die "run as root (mounts, loop devices, zfs pools)"
need_cmds skopeo umoci docker-registry curl jq findmnt tar
[[ " ${DRIVER_LIST[*]} " != *" overlay "* ]] || need_cmds podman
[[ -x /usr/bin/time ]] || die "GNU time missing (apt-get install -y time)"

IMAGEADM_BIN=$(aurora_bin imageadm --build) # what the source says now, never a stale binary

# ia_cmd DRIVER ROOT: set IA to the imageadm command line (global options) for DRIVER.
ia_cmd() {
	IA=("$IMAGEADM_BIN" --quiet --root "$2" --storage "$1")
	if [[ $1 == zfs ]]; then
		IA+=(--zfs-dataset "$ZPOOL/aurora")
	fi
}

MEASURE_IMAGEADM=1
if ((BASELINE_ONLY)); then
	MEASURE_IMAGEADM=0
	warn "BASELINE_ONLY=1: imageadm unpack is not run; measuring umoci and cp -a only"
else
	rc=0
	"$IMAGEADM_BIN" unpack --help >/dev/null 2>&1 || rc=$?
	((rc == 0)) || die "$IMAGEADM_BIN has no 'unpack' command ('imageadm unpack --help' exited $rc), so there is nothing to benchmark yet.
       If the source has it now, rebuild: cargo build --release -p imageadm
       To measure only the other side (umoci, cp -a): BASELINE_ONLY=1 $0"
	"$IMAGEADM_BIN" rm-bundle --help >/dev/null 2>&1 || die "$IMAGEADM_BIN has 'unpack' but no 'rm-bundle' command"
	for d in "${DRIVER_LIST[@]}"; do
		ia_cmd "$d" /nonexistent
		"${IA[@]}" unpack --help >/dev/null 2>&1 ||
			die "$IMAGEADM_BIN does not take the options for driver $d: ${IA[*]:1} unpack --help fails"
	done
fi

# --- helpers ----------------------------------------------------------------
declare -A SAMPLES=()  # "DRIVER WHAT" -> space-separated numbers (µs or KiB)
declare -A TREE=()     # "DRIVER TOOL" -> "ENTRIES FILE_BYTES" of one rootfs
declare -A FS_DIR=()   # driver -> directory for store roots and bundles, on its filesystem
declare -A MASTER=()   # driver -> the pulled store its runs read
declare -A FS_DESC=()  # driver -> what filesystem it was measured on
declare -A SENTINEL=() # image -> a path from its top layer that every rootfs must have
PODMAN=()              # podman with the benchmark's store (podman_setup)
BTRFS_UP=0 ZFS_UP=0

# add_sample KEY VALUE / set_tree KEY VALUE: record a measurement, in memory and in
# $RESULTS (each driver is measured in a subshell; load_results reads them back).
add_sample() {
	SAMPLES[$1]="${SAMPLES[$1]:-}${SAMPLES[$1]:+ }$2"
	printf 'sample\t%s\t%s\n' "$1" "$2" >>"$RESULTS"
}
set_tree() {
	TREE[$1]=$2
	printf 'tree\t%s\t%s\n' "$1" "$2" >>"$RESULTS"
}
load_results() {
	local kind key value
	[[ -f $RESULTS ]] || return 0
	while IFS=$'\t' read -r kind key value; do
		case $kind in
		sample) SAMPLES[$key]="${SAMPLES[$key]:-}${SAMPLES[$key]:+ }$value" ;;
		tree) TREE[$key]=$value ;;
		esac
	done <"$RESULTS"
	rm -f "$RESULTS"
}
# over FN KEY: FN (median, min_of, max_of, json_nums) of the samples under KEY; prints
# nothing if there are none (json_nums: []).
over() {
	local -a v
	read -ra v <<<"${SAMPLES[$2]:-}"
	((${#v[@]} > 0)) || [[ $1 == json_nums ]] || return 0
	"$1" "${v[@]}"
}
med() { over median "$1"; }

last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | grep -v '^Command exited with' | tail -n 1; }

# pull_store DIR: pull both images with imageadm into the store DIR.
pull_store() {
	local img
	for img in big small; do
		timed "$LOGS/pull.log" "$IMAGEADM_BIN" --quiet --root "$1" pull "${IMG_REF[$img]}" ||
			die "imageadm pull ${IMG_REF[$img]} into $1 failed"
		log "pulled ${IMG_REF[$img]} into $1 in $(fmt_s "$TIMED_US") s"
	done
}

# warm_store DIR: read every blob of DIR once so that no run pays for the first read.
warm_store() { cat "$1"/blobs/sha256/* >/dev/null; }

# sentinel STORE MANIFEST: the first file or symlink (no whiteout) in the image's top
# layer, relative to the rootfs: whatever the lower layers hold, it must be in the rootfs.
sentinel() {
	local blob path
	blob=$1/blobs/$(jq -r '.layers[-1].digest | sub(":"; "/")' <<<"$2")
	path=$({ tar -tf "$blob" 2>/dev/null || true; } |
		awk '$0 != "." && !/\/$/ && !/(^|\/)\.wh\./ && !/\\/ { sub(/^\.\//, ""); print; exit }')
	[[ -n $path ]] || die "found no plain file in the top layer $blob"
	echo "$path"
}

# check_rootfs DIR IMAGE: DIR looks like a complete rootfs of IMAGE (big|small).
check_rootfs() {
	[[ -d $1 ]] && [[ -e $1/${SENTINEL[$2]} || -L $1/${SENTINEL[$2]} ]]
}

# bundle_rootfs BUNDLE: the rootfs named by BUNDLE/config.json (root.path, relative to
# the bundle unless absolute).
bundle_rootfs() {
	local p
	p=$(jq -er '.root.path' "$1/config.json" 2>/dev/null) || return 1
	[[ $p == /* ]] || p=$1/$p
	echo "$p"
}

# tree_stats DIR: "ENTRIES FILE_BYTES" of the tree at DIR (counting DIR itself).
tree_stats() {
	find "$1" -printf '%y %s\n' | awk '{ n++ } $1 == "f" { b += $2 } END { printf "%d %d\n", n, b }'
}

# listing DIR: one line per entry of the tree at DIR, sorted: path, type, mode, owner, and
# the size of a file or the target of a link (not a directory's size, which is the
# filesystem's business). Two rootfs of one image must list the same.
listing() {
	find "$1" -mindepth 1 -printf '%P\t%y\t%m\t%U:%G\t%s\t%l\n' |
		awk -F'\t' 'BEGIN { OFS = "\t" } $2 == "d" { $5 = "-" } { print }' | sort
}

# same_rootfs WHAT MINE THEIRS: die, naming the paths that differ, unless the listings
# (files from `listing`) MINE and THEIRS are the same. A rootfs that differs from the
# peers' is not a result, however fast it was made.
same_rootfs() {
	local differ
	differ=$(diff "$2" "$3" | grep '^[<>]' || true)
	[[ -z $differ ]] && return 0
	printf '%s\n' "$differ" | head -n 40 >&2
	die "$1: the rootfs differ in $(printf '%s\n' "$differ" | cut -f1 | cut -c3- | sort -u | wc -l) paths (< imageadm, > the peer; first 40 lines above; listings $2 $3)"
}

# setup_driver D: make D's filesystem; set FS_DIR, MASTER and FS_DESC for it.
setup_driver() {
	local d=$1
	case $d in
	overlay | dir)
		FS_DIR[$d]=$WORK/$d
		mkdir -p "${FS_DIR[$d]}"
		MASTER[$d]=$STORE
		FS_DESC[$d]="$(fs_type "${FS_DIR[$d]}") directory ${FS_DIR[$d]}"
		;;
	btrfs)
		local -A volume=()
		testenv_up volume btrfs "$WORK/btrfs-env" --size "$FS_SIZE"
		BTRFS_UP=1
		FS_DIR[$d]=${volume[MOUNTPOINT]}/bench
		mkdir -p "${FS_DIR[$d]}"
		MASTER[$d]=${volume[MOUNTPOINT]}/store
		pull_store "${MASTER[$d]}"
		warm_store "${MASTER[$d]}"
		FS_DESC[$d]="btrfs on a loop-mounted $FS_SIZE sparse file at ${volume[MOUNTPOINT]}"
		;;
	zfs)
		# Waits for the tests' turn: one zfs-fuse pool user at a time on the machine.
		local -A pool=()
		testenv_up pool zfs-pool "$WORK/zfs-env" --size "$FS_SIZE"
		ZFS_UP=1
		ZPOOL=${pool[POOL]}
		# The store (compressed blobs, read by both tools) stays on the root filesystem.
		FS_DIR[$d]=$WORK/zfs-roots
		mkdir -p "${FS_DIR[$d]}"
		MASTER[$d]=$STORE
		FS_DESC[$d]="zfs-fuse pool $ZPOOL on a $FS_SIZE sparse file, mounted at ${pool[MOUNTPOINT]}"
		;;
	esac
}

teardown_driver() {
	case $1 in
	btrfs)
		if ((BTRFS_UP)); then
			testenv btrfs down --dir "$WORK/btrfs-env" || warn "could not take the btrfs volume down"
			BTRFS_UP=0
		fi
		;;
	zfs)
		if ((ZFS_UP)); then
			testenv zfs-pool down --dir "$WORK/zfs-env" || warn "could not take pool $ZPOOL down"
			ZFS_UP=0
		fi
		purge_tree "$WORK/zfs-roots"
		;;
	*) purge_tree "$WORK/$1" ;;
	esac
}

cleanup_all() {
	teardown_driver zfs
	teardown_driver btrfs
	purge_tree "$WORK"
}

# zfs_dataset_destroy DATASET: destroy DATASET with its children and clones, if it exists
# (unmounting them first, innermost first). Mounted filesystems, and for a moment ones just
# unmounted, are "busy" to zfs-fuse: retried for up to 15 s, each try given up after a
# minute (a frozen daemon).
zfs_dataset_destroy() {
	local ds i
	zfs list -H -o name "$1" >/dev/null 2>&1 || return 0
	zfs list -H -o name -t filesystem -r "$1" | sort -r | while IFS= read -r ds; do
		zfs unmount "$ds" >/dev/null 2>&1 || true
	done
	for ((i = 1; i < 150; i++)); do
		timeout 60 zfs destroy -R "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	timeout 60 zfs destroy -R "$1"
}

# fresh_root D: a new imageadm store root for driver D with nothing unpacked yet: the
# pulled images' blobs hard-linked, no ROOT/storage; for zfs a new, empty POOL/aurora.
fresh_root() {
	local d=$1 root
	# (Run in $(...), where set -e does not reach: every step checked.)
	root=$(mktemp -d "${FS_DIR[$d]}/root.XXXXXX") || die "mktemp in ${FS_DIR[$d]} failed"
	cp -al "${MASTER[$d]}/blobs" "$root/blobs" || die "cp -al ${MASTER[$d]}/blobs $root/blobs failed"
	cp -p "${MASTER[$d]}/oci-layout" "${MASTER[$d]}/index.json" "$root/" || die "copying the store's index to $root failed"
	if [[ $d == zfs ]]; then
		zfs_dataset_destroy "$ZPOOL/aurora" >&2 || die "could not destroy $ZPOOL/aurora"
		zfs create "$ZPOOL/aurora" >&2 || die "zfs create $ZPOOL/aurora failed"
	fi
	echo "$root"
}

# set_aside D DIR: on the drivers whose runs share the root filesystem (overlay, dir), move
# a finished run's tree aside, to be removed with the driver's directory at teardown, rather
# than deleting its ~55,000 files right before the next run: ext4 without a journal (as
# here) skips recently deleted inodes when it allocates new ones for a minute or more
# (recently_deleted() in fs/ext4/ialloc.c), which slowed whichever tool ran next by up to 2x
# in system time. Elsewhere, DIR is purged at once.
set_aside() {
	case $1 in
	overlay | dir)
		umount_tree "$2"
		mkdir -p "${FS_DIR[$1]}/trash"
		mv "$2" "${FS_DIR[$1]}/trash/" || purge_tree "$2"
		;;
	*) purge_tree "$2" ;;
	esac
}

# drop_root D ROOT: remove what fresh_root made and everything unpacked into it.
drop_root() {
	if [[ $1 == zfs ]]; then
		zfs_dataset_destroy "$ZPOOL/aurora" || warn "could not destroy $ZPOOL/aurora"
	fi
	set_aside "$1" "$2"
}

# rm_bundle D ROOT BUNDLE: imageadm rm-bundle, untimed; whatever it leaves is purged.
rm_bundle() {
	ia_cmd "$1" "$2"
	if ! "${IA[@]}" rm-bundle "$3" >"$LOGS/rm-bundle.log" 2>&1; then
		warn "imageadm rm-bundle $3 failed: $(tail -n 1 "$LOGS/rm-bundle.log")"
	fi
	purge_tree "$3"
}

# fresh_scratch D NAME: a new empty directory on D's filesystem (zfs: dataset POOL/NAME,
# made anew).
fresh_scratch() {
	local d=$1 name=$2
	if [[ $d == zfs ]]; then
		zfs_dataset_destroy "$ZPOOL/$name" >&2 || die "could not destroy $ZPOOL/$name"
		zfs create "$ZPOOL/$name" >&2 || die "zfs create $ZPOOL/$name failed"
		zfs get -H -o value mountpoint "$ZPOOL/$name" || die "no mountpoint for $ZPOOL/$name"
	else
		mktemp -d "${FS_DIR[$d]}/$name.XXXXXX" || die "mktemp in ${FS_DIR[$d]} failed"
	fi
}

drop_scratch() {
	if [[ $1 == zfs ]]; then
		zfs_dataset_destroy "$ZPOOL/${2##*/}" || warn "could not destroy $ZPOOL/${2##*/}"
	else
		set_aside "$1" "$2"
	fi
}

# first_imageadm D ROUND: one timed first unpack of the big image into fresh storage.
first_imageadm() {
	local d=$1 r=$2 root bundle rootfs
	root=$(fresh_root "$d")
	bundle=$root.bundle
	ia_cmd "$d" "$root"
	sync
	timed "$LOGS/$d-first-imageadm-$r.log" "${IA[@]}" unpack "$REF" "$bundle" --name bench-first ||
		die "imageadm unpack failed ($d): $(last_line "$LOGS/$d-first-imageadm-$r.log") (command: ${IA[*]} unpack $REF $bundle --name bench-first)"
	rootfs=$(bundle_rootfs "$bundle") || die "imageadm unpack ($d) exited 0 but wrote no config.json with root.path in $bundle"
	check_rootfs "$rootfs" big || die "imageadm unpack ($d) exited 0 but $rootfs lacks ${SENTINEL[big]}; not a valid measurement"
	add_sample "$d first imageadm" "$TIMED_US"
	add_sample "$d first imageadm rss" "$TIMED_RSS_KIB"
	log "  imageadm unpack: $(fmt_s "$TIMED_US") s, peak RSS $(kib_mib "$TIMED_RSS_KIB") MiB"
	if [[ -z ${TREE[$d imageadm]:-} ]]; then
		set_tree "$d imageadm" "$(tree_stats "$rootfs")"
		listing "$rootfs" >"$LOGS/$d-imageadm-big.listing"
	fi
	rm_bundle "$d" "$root" "$bundle"
	drop_root "$d" "$root"
	sync
}

# first_umoci D ROUND: one timed umoci unpack of the big image into a new directory.
first_umoci() {
	local d=$1 r=$2 dir
	dir=$(fresh_scratch "$d" umoci)
	sync
	timed "$LOGS/$d-first-umoci-$r.log" umoci unpack --image "${MASTER[$d]}:$REF" "$dir/bundle" ||
		die "umoci unpack failed ($d): $(last_line "$LOGS/$d-first-umoci-$r.log") (command: umoci unpack --image ${MASTER[$d]}:$REF $dir/bundle)"
	check_rootfs "$dir/bundle/rootfs" big || die "umoci unpack ($d) exited 0 but $dir/bundle/rootfs lacks ${SENTINEL[big]}"
	add_sample "$d first umoci" "$TIMED_US"
	add_sample "$d first umoci rss" "$TIMED_RSS_KIB"
	log "  umoci unpack:    $(fmt_s "$TIMED_US") s, peak RSS $(kib_mib "$TIMED_RSS_KIB") MiB"
	if [[ -z ${TREE[$d umoci]:-} ]]; then
		set_tree "$d umoci" "$(tree_stats "$dir/bundle/rootfs")"
		listing "$dir/bundle/rootfs" >"$LOGS/$d-umoci-big.listing"
	fi
	drop_scratch "$d" "$dir"
	sync
}

# time_copy D IMAGE SRC: one timed cp -a --reflink=auto of the rootfs SRC.
time_copy() {
	local d=$1 img=$2 src=$3 dir
	dir=$(fresh_scratch "$d" copy)
	sync
	timed "$LOGS/$d-copy-$img.log" cp -a --reflink=auto "$src" "$dir/rootfs" ||
		die "cp -a --reflink=auto $src $dir/rootfs failed"
	check_rootfs "$dir/rootfs" "$img" || die "the copy $dir/rootfs lacks ${SENTINEL[$img]}"
	add_sample "$d second $img copy" "$TIMED_US"
	drop_scratch "$d" "$dir"
	sync
}

# podman_setup D: podman with its store on D's filesystem (overlay driver, under $WORK, so
# that the purge at exit removes it; its run root is $PODMAN_RUNROOT), both images pulled into it (untimed), and
# $WORK/podman-root: `podman create` of an image plus `podman mount` of the new container's
# root - a podman user's second container, as one command to time.
podman_setup() {
	local d=$1 img
	PODMAN=(podman --root "${FS_DIR[$d]}/podman" --runroot "$PODMAN_RUNROOT"
		--storage-driver overlay --cgroup-manager cgroupfs --events-backend file)
	for img in big small; do
		"${PODMAN[@]}" pull -q --tls-verify=false "${IMG_REF[$img]}" >"$LOGS/podman-pull-$img.log" 2>&1 ||
			die "podman pull ${IMG_REF[$img]} failed: $(last_line "$LOGS/podman-pull-$img.log")"
	done
	cat >"$WORK/podman-root" <<-'EOF'
		#!/bin/sh
		# podman-root NAME IMAGE PODMAN...: a container of IMAGE, and its root mounted (printed).
		name=$1 image=$2
		shift 2
		"$@" create -q --name "$name" "$image" /bin/true >/dev/null && "$@" mount "$name"
	EOF
	chmod +x "$WORK/podman-root"
}

# podman_containers D IMAGEADM_ROOTFS_BIG IMAGEADM_ROOTFS_SMALL: CLONE_RUNS timed podman
# containers per image (podman-root), alternating images; the first of each image is checked
# against imageadm's rootfs of the same image (when imageadm was measured).
podman_containers() {
	local d=$1 i img name rootfs
	local -A mine=([big]=$2 [small]=$3)
	local -a order
	podman_setup "$d"
	log "  $CLONE_RUNS podman containers per image (podman create + podman mount, overlay)"
	for ((i = 1; i <= CLONE_RUNS; i++)); do
		order=(big small)
		((i % 2)) || order=(small big)
		for img in "${order[@]}"; do
			name=bench-$img-$i
			sync
			timed "$LOGS/$d-podman-$img.log" "$WORK/podman-root" "$name" "${IMG_REF[$img]}" "${PODMAN[@]}" ||
				die "podman create + mount of ${IMG_REF[$img]} failed: $(last_line "$LOGS/$d-podman-$img.log")"
			rootfs=$(last_line "$LOGS/$d-podman-$img.log")
			check_rootfs "$rootfs" "$img" || die "podman's container root $rootfs lacks ${SENTINEL[$img]}"
			add_sample "$d second $img podman" "$TIMED_US"
			if ((i == 1)) && [[ -n ${mine[$img]} ]]; then
				listing "${mine[$img]}" >"$LOGS/$d-imageadm-$img-container.listing"
				listing "$rootfs" >"$LOGS/$d-podman-$img.listing"
				same_rootfs "driver $d: imageadm's container vs. podman's of ${IMG_REF[$img]}" \
					"$LOGS/$d-imageadm-$img-container.listing" "$LOGS/$d-podman-$img.listing"
			fi
			if ! { "${PODMAN[@]}" umount "$name" >/dev/null && "${PODMAN[@]}" rm "$name" >/dev/null; }; then
				die "podman could not remove container $name"
			fi
		done
	done
	log "  podman: big $(fmt_ms "$(med "$d second big podman")") ms, small $(fmt_ms "$(med "$d second small podman")") ms (medians)"
	"${PODMAN[@]}" rmi -af >/dev/null 2>&1 || warn "podman rmi -af failed"
}

# second_container D: layers laid down and a first container made (untimed), then
# CLONE_RUNS timed second containers per image, then the copies.
second_container() {
	local d=$1 root='' srcdir='' img i b rootfs n
	local -A src=()
	local -a order
	if ((MEASURE_IMAGEADM)); then
		root=$(fresh_root "$d")
		ia_cmd "$d" "$root"
		for img in big small; do
			"${IA[@]}" unpack "${IMG_REF[$img]}" "$root.first-$img" --name "bench-first-$img" \
				>"$LOGS/$d-first-$img.log" 2>&1 || {
				tail -n 20 "$LOGS/$d-first-$img.log" >&2
				die "imageadm unpack ${IMG_REF[$img]} failed ($d): $(last_line "$LOGS/$d-first-$img.log")"
			}
			src[$img]=$(bundle_rootfs "$root.first-$img") || die "no root.path in $root.first-$img/config.json"
			check_rootfs "${src[$img]}" "$img" || die "${src[$img]} lacks ${SENTINEL[$img]}"
		done
		log "  layers laid down, first containers made; $CLONE_RUNS second containers per image"
		for ((i = 1; i <= CLONE_RUNS; i++)); do
			order=(big small)
			((i % 2)) || order=(small big)
			for img in "${order[@]}"; do
				b=$root.second
				sync
				timed "$LOGS/$d-second-$img.log" "${IA[@]}" unpack "${IMG_REF[$img]}" "$b" --name "bench-second-$img-$i" ||
					die "imageadm unpack (second container, $d) failed: $(last_line "$LOGS/$d-second-$img.log")"
				rootfs=$(bundle_rootfs "$b") || die "no root.path in $b/config.json"
				check_rootfs "$rootfs" "$img" || die "second container $rootfs lacks ${SENTINEL[$img]}"
				add_sample "$d second $img clone" "$TIMED_US"
				rm_bundle "$d" "$root" "$b"
			done
		done
		log "  second container: big $(fmt_ms "$(med "$d second big clone")") ms, small $(fmt_ms "$(med "$d second small clone")") ms (medians)"
	else
		# No imageadm unpack: copy a rootfs umoci made on the same filesystem instead.
		srcdir=$(fresh_scratch "$d" source)
		for img in big small; do
			umoci unpack --image "${MASTER[$d]}:${IMG_REF[$img]}" "$srcdir/$img" >"$LOGS/$d-source-$img.log" 2>&1 ||
				die "umoci unpack ${IMG_REF[$img]} into $srcdir/$img failed"
			src[$img]=$srcdir/$img/rootfs
		done
	fi

	for img in big small; do
		n=$CLONE_RUNS
		[[ $img == small ]] || n=$COPY_RUNS
		log "  $n copies of the $img rootfs (cp -a --reflink=auto ${src[$img]})"
		for ((i = 1; i <= n; i++)); do
			time_copy "$d" "$img" "${src[$img]}"
		done
	done
	log "  copy: big $(fmt_ms "$(med "$d second big copy")") ms, small $(fmt_ms "$(med "$d second small copy")") ms (medians)"

	# The peer a user would pick for a second container: podman, on overlay.
	if [[ $d == overlay ]]; then
		if ((MEASURE_IMAGEADM)); then
			podman_containers "$d" "${src[big]}" "${src[small]}"
		else
			podman_containers "$d" "" ""
		fi
	fi

	if [[ -n $root ]]; then
		for img in big small; do
			rm_bundle "$d" "$root" "$root.first-$img"
		done
		drop_root "$d" "$root"
	else
		drop_scratch "$d" "$srcdir"
	fi
}

# measure_driver D: the first-unpack rounds and the second container on D's storage.
measure_driver() {
	local d=$1 round tool
	local -a order
	for ((round = 1; round <= RUNS; round++)); do
		# A-B, B-A, A-B, ...: cancels any (dis)advantage of going first in a round.
		order=(imageadm umoci)
		((round % 2)) || order=(umoci imageadm)
		log "driver $d: first unpack, round $round/$RUNS"
		for tool in "${order[@]}"; do
			if [[ $tool == umoci ]]; then
				first_umoci "$d" "$round"
			elif ((MEASURE_IMAGEADM)); then
				first_imageadm "$d" "$round"
			fi
		done
	done
	if ((MEASURE_IMAGEADM)); then
		same_rootfs "driver $d: imageadm unpack vs. umoci unpack of $REF" \
			"$LOGS/$d-imageadm-big.listing" "$LOGS/$d-umoci-big.listing"
	fi
	log "driver $d: second container vs. copy"
	second_container "$d"
}

# --- setup ------------------------------------------------------------------
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
WORK=$BENCH_DIR/unpack # everything this script makes; removed at exit
LOGS=$WORK/logs
STORE=$WORK/store
RESULTS=$WORK/results.tsv

# Leftovers of a run killed before its cleanup.
if [[ -e $WORK ]]; then
	testenv btrfs down --dir "$WORK/btrfs-env"
	testenv zfs-pool down --dir "$WORK/zfs-env"
	purge_tree "$WORK"
fi
on_exit cleanup_all
mkdir -p "$LOGS" "$STORE"
# podman's run root (podman_setup), which podman wants no longer than 50 characters.
PODMAN_RUNROOT=$(mktemp -d /run/aurora-podman.XXXXXX)
on_exit rm -rf "$PODMAN_RUNROOT"

# shellcheck disable=SC2034 # filled by testenv_up (the facts: ADDRESS, STARTED, ...)
declare -A SOURCE_REGISTRY=() # the tests' registry (aurora-testenv); stopped at exit if started here
testenv_up SOURCE_REGISTRY registry "$BENCH_DIR/registry" --port "$PORT"
bench_image_ensure "$BENCH_DIR" "$REF"
if remote_manifest "${IMG_REF[small]}" >/dev/null 2>&1; then
	log "${IMG_REF[small]} already in the registry"
else
	log "building the small image and pushing it to ${IMG_REF[small]}"
	build_demo_image "${IMG_REF[small]}" "$WORK"
fi

pull_store "$STORE"
warm_store "$STORE"
declare -A LAYERS=() COMPRESSED=()
for img in big small; do
	manifest=$(oci_manifest "$STORE" "${IMG_REF[$img]}")
	LAYERS[$img]=$(jq '.layers | length' <<<"$manifest")
	COMPRESSED[$img]=$(jq '[.layers[].size] | add' <<<"$manifest")
	SENTINEL[$img]=$(sentinel "$STORE" "$manifest")
	log "$img image: ${LAYERS[$img]} layers, $(mib "${COMPRESSED[$img]}") MiB compressed; every rootfs must have /${SENTINEL[$img]}"
done

# --- measure ----------------------------------------------------------------
LOADAVG=$(load_check)
LOAD_MAX=$LOADAVG
declare -A FAILED=()
for d in "${DRIVER_LIST[@]}"; do
	log "driver $d: preparing storage"
	load=$(load_check)
	LOAD_MAX=$(awk -v a="$LOAD_MAX" -v b="$load" 'BEGIN { print (b > a) ? b : a }')
	setup_driver "$d"
	log "driver $d: ${FS_DESC[$d]}"
	# A subshell, so that a failure (say a driver imageadm does not have yet) ends this
	# driver only: the others are still measured, and the script exits 1 at the end.
	# (Not `( … ) || rc=$?`: set -e would be off inside.)
	rm -f "$WORK/error"
	set +e
	(
		set -e
		die() {
			printf 'error: %s\n' "$*" >&2
			printf '%s\n' "$*" >"$WORK/error"
			exit 1
		}
		measure_driver "$d"
	)
	rc=$?
	set -e
	load_results
	if ((rc != 0)); then
		FAILED[$d]=$(head -c 4000 "$WORK/error" 2>/dev/null) || FAILED[$d]="exited with status $rc (see the output above)"
		warn "driver $d failed; its numbers so far are kept, the other drivers still run"
	fi
	teardown_driver "$d"
done
load=$(load_check)
LOAD_MAX=$(awk -v a="$LOAD_MAX" -v b="$load" 'BEGIN { print (b > a) ? b : a }')

# --- report -----------------------------------------------------------------
UMOCI_NOTE="umoci unpack also hashes every file it writes (sha256, into the mtree manifest its repack needs), so umoci/imageadm is not unpack speed alone"
# ratio A B: A / B to 2 places, or n/a if either is missing.
ratio() { if [[ -n $1 && -n $2 ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else echo n/a; fi; }
# or_na FN VALUE: FN VALUE, or n/a when VALUE is empty.
or_na() { if [[ -n $2 ]]; then "$1" "$2"; else echo n/a; fi; }
row() { printf '  %-36s %16s %16s %16s\n' "$@"; }

echo
echo "Image:  $REF - ${LAYERS[big]} layers, $(mib "${COMPRESSED[big]}") MiB compressed"
echo "Small:  ${IMG_REF[small]} - ${LAYERS[small]} layers, $(mib "${COMPRESSED[small]}") MiB compressed"
echo "Runs:   $RUNS first unpacks per tool and driver (alternating, fresh storage each, sync before each);"
echo "        $CLONE_RUNS second containers per image; $COPY_RUNS copies of the big rootfs, $CLONE_RUNS of the small"
if ((!MEASURE_IMAGEADM)); then
	echo "imageadm: NOT MEASURED (BASELINE_ONLY=1); copies are of a rootfs umoci made"
fi
echo "Note:   $UMOCI_NOTE"
echo "Second: podman = podman create + podman mount of an image already in podman's store (overlay)"
for d in "${DRIVER_LIST[@]}"; do
	echo
	echo "== $d: ${FS_DESC[$d]}"
	if [[ -n ${FAILED[$d]:-} ]]; then
		echo "  FAILED (numbers below are from before the failure): ${FAILED[$d]}"
	fi
	row "first unpack, cold storage" imageadm umoci umoci/imageadm
	mi=$(med "$d first imageadm") mu=$(med "$d first umoci")
	row "median s" "$(or_na fmt_s "$mi")" "$(or_na fmt_s "$mu")" "$(ratio "$mu" "$mi")"
	row "min s" "$(or_na fmt_s "$(over min_of "$d first imageadm")")" "$(or_na fmt_s "$(over min_of "$d first umoci")")" ""
	row "max s" "$(or_na fmt_s "$(over max_of "$d first imageadm")")" "$(or_na fmt_s "$(over max_of "$d first umoci")")" ""
	row "median peak RSS MiB" "$(or_na kib_mib "$(med "$d first imageadm rss")")" "$(or_na kib_mib "$(med "$d first umoci rss")")" ""
	ti=${TREE[$d imageadm]:-} tu=${TREE[$d umoci]:-}
	row "rootfs entries" "$(or_na echo "${ti% *}")" "$(or_na echo "${tu% *}")" ""
	row "second container, median ms" "imageadm clone" "cp -a copy" "copy/clone"
	for img in big small; do
		mc=$(med "$d second $img clone") mp=$(med "$d second $img copy")
		row "$img image" "$(or_na fmt_ms "$mc")" "$(or_na fmt_ms "$mp")" "$(ratio "$mp" "$mc")"
	done
	if [[ -n ${SAMPLES[$d second big podman]:-} ]]; then
		row "second container, median ms" "imageadm clone" "podman create" "podman/clone"
		for img in big small; do
			mc=$(med "$d second $img clone") mp=$(med "$d second $img podman")
			row "$img image" "$(or_na fmt_ms "$mc")" "$(or_na fmt_ms "$mp")" "$(ratio "$mp" "$mc")"
		done
	fi
done

# JSON: times in s (first unpack) and ms (second container), RSS in KiB; null where
# nothing was measured.
null_if_na() { if [[ $1 == n/a || -z $1 ]]; then echo null; else echo "$1"; fi; }
tool_json() { # DRIVER TOOL
	local k="$1 first $2" tree=${TREE[$1 $2]:-}
	if [[ -z ${SAMPLES[$k]:-} ]]; then
		echo null
		return 0
	fi
	jq -nc --argjson med "$(med "$k")" --argjson wall "$(over json_nums "$k")" \
		--argjson rss "$(over json_nums "$k rss")" --arg tree "$tree" \
		'{median_s: ($med / 1e6), wall_s: [$wall[] / 1e6], peak_rss_kib: $rss,
		  rootfs: ($tree | if . == "" then null else split(" ") | {entries: (.[0] | tonumber), file_bytes: (.[1] | tonumber)} end)}'
}
ms_json() { # KEY
	if [[ -z ${SAMPLES[$1]:-} ]]; then
		echo null
		return 0
	fi
	jq -nc --argjson med "$(med "$1")" --argjson us "$(over json_nums "$1")" \
		'{median_ms: ($med / 1e3), runs_ms: [$us[] / 1e3]}'
}
drivers_json='{}'
for d in "${DRIVER_LIST[@]}"; do
	second='{}'
	for img in big small; do
		second=$(jq -c --arg img "$img" --argjson clone "$(ms_json "$d second $img clone")" \
			--argjson copy "$(ms_json "$d second $img copy")" \
			--argjson r "$(null_if_na "$(ratio "$(med "$d second $img copy")" "$(med "$d second $img clone")")")" \
			--argjson podman "$(ms_json "$d second $img podman")" \
			--argjson pr "$(null_if_na "$(ratio "$(med "$d second $img podman")" "$(med "$d second $img clone")")")" \
			'.[$img] = {imageadm_clone: $clone, copy: $copy, copy_over_clone: $r,
			            podman_create_mount: $podman, podman_over_clone: $pr}' <<<"$second")
	done
	drivers_json=$(jq -c --arg d "$d" --arg fs "${FS_DESC[$d]}" \
		--argjson ia "$(tool_json "$d" imageadm)" --argjson um "$(tool_json "$d" umoci)" \
		--argjson r "$(null_if_na "$(ratio "$(med "$d first umoci")" "$(med "$d first imageadm")")")" \
		--argjson second "$second" --arg err "${FAILED[$d]:-}" \
		'.[$d] = {filesystem: $fs, error: (if $err == "" then null else $err end),
		          first_unpack: {imageadm: $ia, umoci: $um, umoci_over_imageadm: $r},
		          second_container: $second}' <<<"$drivers_json")
done
imageadm_json=null
if ((MEASURE_IMAGEADM)); then
	imageadm_json=$(jq -nc --arg b "$IMAGEADM_BIN" '$b')
fi
jq -nc --arg date "$(date -Is)" --argjson cpus "$(nproc)" --argjson load "$LOADAVG" --argjson loadmax "$LOAD_MAX" \
	--argjson imageadm "$imageadm_json" --arg umoci "$(command -v umoci)" \
	--arg ref "$REF" --argjson layers "${LAYERS[big]}" --argjson bytes "${COMPRESSED[big]}" \
	--arg sref "${IMG_REF[small]}" --argjson slayers "${LAYERS[small]}" --argjson sbytes "${COMPRESSED[small]}" \
	--argjson runs "$RUNS" --argjson clones "$CLONE_RUNS" --argjson copies "$COPY_RUNS" \
	--argjson drivers "$drivers_json" --arg unote "$UMOCI_NOTE" \
	'{benchmark: "unpack", date: $date, cpus: $cpus, loadavg_at_start: $load, loadavg_max: $loadmax,
	  imageadm: $imageadm, umoci: $umoci, umoci_note: $unote,
	  image: {ref: $ref, layers: $layers, compressed_bytes: $bytes},
	  small_image: {ref: $sref, layers: $slayers, compressed_bytes: $sbytes},
	  runs: $runs, clone_runs: $clones, copy_runs: $copies, drivers: $drivers}'
if ((${#FAILED[@]} > 0)); then
	die "driver(s) failed: ${!FAILED[*]} (see above)"
fi
