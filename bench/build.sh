#!/usr/bin/env bash
#
# bench/build.sh - `imageadm build` against `buildah bud` on the same Containerfiles,
# contexts and filesystem, alternating, medians. A measurement, not a test.
#
#     bench/build.sh             # as root; RUNS=3 for a quick look
#
# - Base image: one layer of static busybox with every applet (scripts/images.sh
#   build_busybox_image), pushed to the local registry as 127.0.0.1:$PORT/bench/applets:1 and
#   pulled once (untimed) into both stores.
# - Stores on $BENCH_DIR's filesystem: imageadm with the overlay driver; buildah with its
#   overlay driver and chroot isolation (its fastest way to run a step), `--layers` so that
#   it caches each step as imageadm does.
# - Builds:
#   a. six steps on busybox: FROM, RUN (a directory and a file), COPY of 1,000 files, ENV,
#      WORKDIR, CMD; cold (`--no-cache`) and fully cached (the same build again);
#   b. two stages: the first makes a program (with the image's compiler when it has one;
#      busybox has none, so a shell script is generated and made executable), the second
#      copies it from the first; cold and cached.
# - Prints medians (ms) and imageadm's speed-up over buildah; one JSON line last.
#
# Env: IMAGEADM   imageadm binary (default: cargo build --release -p imageadm, runz with
#                 the runtime profile, buildhelper static, beside it in $BENCH_DIR)
#      RUNS       rounds (default 10)
#      PORT       registry port on 127.0.0.1 (default 5055)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench)
# Requires: root; buildah, skopeo, umoci, docker-registry, busybox-static, jq, curl.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-10}
PORT=${PORT:-5055}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
check_positive_int RUNS "$RUNS"
(($(id -u) == 0)) || die "bench/build.sh needs root"
need_cmds buildah skopeo umoci docker-registry busybox jq curl

WORK=$BENCH_DIR/build
BIN=$WORK/bin
IMAGE=127.0.0.1:$PORT/bench/applets:1
mkdir -p "$BIN"
if [[ -n ${IMAGEADM:-} ]]; then
	[[ -x $IMAGEADM ]] || die "IMAGEADM=$IMAGEADM is not an executable file"
	cp "$IMAGEADM" "$BIN/imageadm"
	cp "$(dirname "$IMAGEADM")/runz" "$BIN/runz"
else
	log "building imageadm (release) and runz (profile runtime)"
	(cd "$AURORA_ROOT_DIR" && cargo build --release --locked -p imageadm >&2 &&
		cargo build --profile runtime --locked -p runz >&2)
	target=${CARGO_TARGET_DIR:-$AURORA_ROOT_DIR/target}
	cp "$target/release/imageadm" "$BIN/imageadm"
	cp "$target/runtime/runz" "$BIN/runz"
fi

IA_ROOT=$WORK/imageadm
BA_ROOT=$WORK/buildah
BA_RUNROOT=$(mktemp -d /run/aurora-bench-build-buildah.XXXXXX)
ia() { "$BIN/imageadm" --root "$IA_ROOT" --storage overlay "$@"; }
ba() { buildah --root "$BA_ROOT" --runroot "$BA_RUNROOT" --storage-driver overlay "$@"; }

cleanup() {
	ba rm --all >/dev/null 2>&1 || true
	ba rmi --all --force >/dev/null 2>&1 || true
	umount_tree "$WORK" 2>/dev/null || true
	umount_tree "$BA_RUNROOT" 2>/dev/null || true
	rm -rf "$BA_RUNROOT"
	purge_tree "$IA_ROOT" 2>/dev/null || true
	purge_tree "$BA_ROOT" 2>/dev/null || true
}
on_exit cleanup
cleanup
mkdir -p "$IA_ROOT" "$BA_ROOT"

busybox_image_in_registry "$IMAGE" "$WORK"
log "pulling $IMAGE into both stores (untimed)"
ia --quiet pull "$IMAGE" >/dev/null
ba pull -q --tls-verify=false "$IMAGE" >/dev/null

# --- the contexts -------------------------------------------------------------------
SIX=$WORK/six
rm -rf "$SIX" && mkdir -p "$SIX/files"
for ((i = 0; i < 1000; i++)); do
	printf 'file %d of the benchmark context\n' "$i" >"$SIX/files/f$i.txt"
done
cat >"$SIX/Containerfile" <<EOF
FROM $IMAGE
RUN mkdir -p /srv/app && echo built > /srv/app/stamp
COPY files/ /srv/app/files/
ENV APP_HOME=/srv/app
WORKDIR /srv/app
CMD ["sh"]
EOF
TWO=$WORK/two
rm -rf "$TWO" && mkdir -p "$TWO"
printf 'int main(void) { return 0; }\n' >"$TWO/hello.c"
cat >"$TWO/Containerfile" <<EOF
FROM $IMAGE AS compile
COPY hello.c /src/hello.c
RUN if command -v cc >/dev/null; then cc -o /src/hello /src/hello.c; \\
    else printf '#!/bin/sh\\necho hello\\n' > /src/hello; chmod 755 /src/hello; fi
FROM $IMAGE
COPY --from=compile /src/hello /usr/local/bin/hello
CMD ["/usr/local/bin/hello"]
EOF

declare -A US=()
time_cmd() {
	local key=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	"$@" >"$WORK/last.log" 2>&1 || { tail -n 20 "$WORK/last.log" >&2; die "$key failed: $*"; }
	t1=$EPOCHREALTIME
	US[$key]+="$((${t1/./} - ${t0/./})) "
}
# buildah 1.28 here now and then fails to seal the memfd copy of itself it re-executes
# ("Close_Fd sealing memfd copy: Device or resource busy"): such a run is tried again, and
# only the run that succeeds is timed.
time_buildah() {
	local key=$1 t0 t1 try
	shift
	for try in 1 2 3; do
		t0=$EPOCHREALTIME
		if "$@" >"$WORK/last.log" 2>&1; then
			t1=$EPOCHREALTIME
			US[$key]+="$((${t1/./} - ${t0/./})) "
			return 0
		fi
		grep -q "sealing memfd" "$WORK/last.log" || break
		warn "$key: buildah failed to seal its memfd (try $try); running it again"
	done
	tail -n 20 "$WORK/last.log" >&2
	die "$key failed: $*"
}

LOAD=$(load_check)
log "$RUNS rounds, tools alternating: cold then cached, for builds a and b"
for ((i = 0; i < RUNS; i++)); do
	for build in six two; do
		dir=$WORK/$build
		if ((i % 2)); then order=(buildah imageadm); else order=(imageadm buildah); fi
		for tool in "${order[@]}"; do
			case $tool in
			imageadm)
				time_cmd "ia_${build}_cold" ia --quiet build --no-cache -t "bench/$build:1" "$dir"
				time_cmd "ia_${build}_cached" ia --quiet build -t "bench/$build:1" "$dir"
				;;
			buildah)
				time_buildah "ba_${build}_cold" ba bud -q --layers --no-cache --isolation chroot \
					--pull=false -t "bench/$build:1" "$dir"
				time_buildah "ba_${build}_cached" ba bud -q --layers --isolation chroot \
					--pull=false -t "bench/$build:1" "$dir"
				;;
			esac
		done
	done
done

printf '\nbuilds on %s (%s), load %s\n%-24s %10s %10s %10s\n' "$WORK" "$(fs_type "$WORK")" \
	"$LOAD" build "imageadm" "buildah" "faster by"
json="{\"runs\":$RUNS,\"load\":$LOAD"
for build in six two; do
	for kind in cold cached; do
		# shellcheck disable=SC2086 # space-separated numbers
		a=$(median ${US[ia_${build}_$kind]})
		# shellcheck disable=SC2086
		b=$(median ${US[ba_${build}_$kind]})
		ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
		printf '%-24s %10s %10s %9sx\n' "$build $kind (ms)" "$(fmt_ms "$a")" "$(fmt_ms "$b")" "$ratio"
		json+=",\"${build}_$kind\":{\"imageadm_us\":$a,\"buildah_us\":$b,\"speedup\":$ratio}"
	done
done
echo
printf '%s}\n' "$json"
