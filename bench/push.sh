#!/usr/bin/env bash
#
# bench/push.sh - push benchmark: `imageadm push` vs. `skopeo copy oci:… docker://…`, the same
# image from the same OCI layout (imageadm's store) into a new, empty repository of a local
# registry. A measurement, not a test: it reports numbers and has no pass/fail threshold.
#
#     bench/push.sh            # RUNS=1 for a quick look
#
# - Image: bench/pull.sh's (>= 300 MB compressed in gzip layers from host files, built once
#   and cached in $BENCH_DIR), pulled with imageadm into a store once; the store is an OCI
#   layout, so skopeo reads the very same blobs (oci:STORE:NAME). Every blob is read once,
#   untimed, so both tools find it in the page cache.
# - Destination: a second docker-registry on 127.0.0.1:$DEST_PORT, started anew with empty
#   storage before every run (untimed), so nothing is there and nothing can be mounted (skopeo
#   would otherwise mount blobs it remembers pushing before): every byte is uploaded.
# - RUNS rounds, alternating which tool goes first; each run is checked by reading the pushed
#   manifest back with skopeo and comparing its digest with the store's.
# - Prints medians, peak RSS and the ratio, then one JSON line; then runs bench/commit.sh
#   (COMMIT=0 skips it), whose own JSON line is the last line of stdout.
#
# Env: IMAGEADM   imageadm binary (default: cargo build --release -p imageadm, run first)
#      RUNS       rounds (default 5)
#      PORT       source registry port (default 5055, shared with bench/pull.sh)
#      DEST_PORT  destination registry port (default 5057)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench)
# Requires: skopeo umoci docker-registry curl jq time (scripts/install-deps.sh).

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-5}
PORT=${PORT:-5055}
DEST_PORT=${DEST_PORT:-5057}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
REF=127.0.0.1:$PORT/bench/big:latest
check_positive_int RUNS "$RUNS"
need_cmds skopeo umoci docker-registry curl jq
[[ -x /usr/bin/time ]] || die "GNU time missing (apt-get install -y time)"

IMAGEADM_BIN=$(aurora_bin imageadm --build) # what the source says now, never a stale binary
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
RUNS_DIR=$BENCH_DIR/runs
rm -rf "$RUNS_DIR"
mkdir -p "$RUNS_DIR"
on_exit rm -rf "$RUNS_DIR"

# shellcheck disable=SC2034 # filled by testenv_up (the facts: ADDRESS, STARTED, ...)
declare -A SOURCE_REGISTRY=() # the tests' registry (aurora-testenv); stopped at exit if started here
testenv_up SOURCE_REGISTRY registry "$BENCH_DIR/registry" --port "$PORT"
bench_image_ensure "$BENCH_DIR" "$REF"
# fresh_destination: the destination registry, empty.
fresh_destination() {
	testenv registry down --dir "$RUNS_DIR/dest" 2>/dev/null || true
	rm -rf "$RUNS_DIR/dest"
	testenv registry up --dir "$RUNS_DIR/dest" --port "$DEST_PORT" >/dev/null ||
		die "cannot start the destination registry on $DEST_PORT"
}
on_exit testenv registry down --dir "$RUNS_DIR/dest"

STORE=$RUNS_DIR/store
log "pulling $REF into $STORE (the source of both tools)"
"$IMAGEADM_BIN" --quiet --root "$STORE" pull "$REF"
DIGEST=$(jq -r --arg n "$REF" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest' "$STORE/index.json")
MANIFEST=$(cat "$STORE/blobs/${DIGEST/://}")
LAYERS=$(jq '.layers | length' <<<"$MANIFEST")
COMPRESSED=$(jq '[.layers[].size] | add' <<<"$MANIFEST")
log "image: $LAYERS layers, $(mib "$COMPRESSED") MiB compressed, manifest $DIGEST"
log "reading every blob once (untimed, for the page cache)"
cat "$STORE"/blobs/sha256/* >/dev/null

LOADAVG=$(load_check)
# shellcheck disable=SC2034 # filled and read through namerefs (record_run, medians)
WALL_US_imageadm=() RSS_KIB_imageadm=() WALL_US_skopeo=() RSS_KIB_skopeo=()
for ((round = 1; round <= RUNS; round++)); do
	order=(imageadm skopeo)
	((round % 2)) || order=(skopeo imageadm)
	log "round $round/$RUNS"
	for tool in "${order[@]}"; do
		dest=127.0.0.1:$DEST_PORT/bench/$tool-$round:latest
		logf=$RUNS_DIR/$tool-$round.log
		fresh_destination
		sync
		case $tool in
		imageadm) timed "$logf" "$IMAGEADM_BIN" --quiet --root "$STORE" push "$REF" "$dest" ;;
		skopeo) timed "$logf" skopeo copy --quiet --dest-tls-verify=false "oci:$STORE:$REF" "docker://$dest" ;;
		esac || die "$tool push failed (see $logf)"
		pushed=$(skopeo inspect --raw --tls-verify=false "docker://$dest" | sha256sum | cut -d' ' -f1)
		[[ sha256:$pushed == "$DIGEST" ]] || die "$tool pushed manifest sha256:$pushed, the store holds $DIGEST"
		record_run "$tool"
	done
done

declare -A MED_US MED_RSS
medians imageadm skopeo
ratio=$(awk -v s="${MED_US[skopeo]}" -v i="${MED_US[imageadm]}" 'BEGIN { printf "%.2f", s / i }')
echo
echo "Image:  $REF - $LAYERS layers, $(mib "$COMPRESSED") MiB compressed, from $STORE"
echo "Runs:   $RUNS per tool, alternating, into an empty registry on 127.0.0.1:$DEST_PORT each run"
echo
printf '%-10s %10s %22s\n' tool "median s" "median peak RSS MiB"
for tool in imageadm skopeo; do
	printf '%-10s %10s %22s\n' "$tool" "$(fmt_s "${MED_US[$tool]}")" "$(kib_mib "${MED_RSS[$tool]}")"
done
echo
echo "imageadm push: ${ratio}x the speed of skopeo copy (median wall clock, skopeo/imageadm)"
jq -nc --argjson runs "$RUNS" --argjson layers "$LAYERS" --argjson bytes "$COMPRESSED" \
	--argjson i "${MED_US[imageadm]}" --argjson s "${MED_US[skopeo]}" \
	--argjson ir "${MED_RSS[imageadm]}" --argjson sr "${MED_RSS[skopeo]}" \
	--argjson ratio "$ratio" --argjson load "$LOADAVG" \
	'{benchmark: "push", runs: $runs, layers: $layers, compressed_bytes: $bytes, loadavg_at_start: $load,
	  imageadm: {median_s: ($i / 1e6), median_peak_rss_kib: $ir},
	  skopeo: {median_s: ($s / 1e6), median_peak_rss_kib: $sr}, speedup_skopeo_over_imageadm: $ratio}'

# The second half of the round trip: commit of 1,000 changed files against umoci repack
# (bench/commit.sh, whose JSON line then comes last). COMMIT=0 skips it.
if [[ ${COMMIT:-1} != 0 ]]; then
	echo
	"$(dirname "${BASH_SOURCE[0]}")/commit.sh"
fi
