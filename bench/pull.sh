#!/usr/bin/env bash
#
# bench/pull.sh - pull benchmark: imageadm vs. skopeo, same image, same registry.
# A measurement, not a test: it reports numbers and has no pass/fail threshold.
#
#     bench/pull.sh                        # as root; RUNS=1 bench/pull.sh for a quick look
#
# - Builds (once; cached in $BENCH_DIR) an OCI image of >= 300 MB compressed in
#   >= 3 gzip layers from host files (/usr/lib/<multiarch>, /usr/share, /usr/bin,
#   plus a random-data layer only if those fall short), with umoci. Takes about
#   1.5 minutes on a 2-core VM (copy + gzip); delete $BENCH_DIR to rebuild.
# - Starts a local registry (scripts/registry.sh, data in $BENCH_DIR/registry;
#   reuses one already answering on $PORT) and pushes the image as
#   127.0.0.1:$PORT/bench/big:latest unless it is already there.
# - Reads every blob once through the registry (untimed) so both tools see a
#   warm page cache, then runs $RUNS rounds of
#     imageadm --quiet --root FRESH_EMPTY_DIR pull REF
#     skopeo copy --quiet --src-tls-verify=false docker://REF oci:FRESH_EMPTY_DIR:big
#   (imageadm first in odd rounds, skopeo first in even ones) with a fresh
#   empty directory under $BENCH_DIR for every run and `sync` before each.
#   Every run is checked to have stored all blobs (a run that stores nothing
#   would otherwise look fast).
# - Prints a table (median/min/max wall seconds, median peak RSS) and the
#   median speed ratio, then one JSON line as the last line of stdout.
#   Progress goes to stderr.
#
# Env: IMAGEADM   imageadm binary (default: cargo build --release -p imageadm, run first)
#      RUNS       rounds (default 5)
#      PORT       registry port on 127.0.0.1 (default 5055)
#      BENCH_DIR  work dir (default /var/tmp/aurora-bench: layout/, registry/, build.json)
# Requires: skopeo umoci docker-registry curl jq time (see scripts/lib.sh).

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

RUNS=${RUNS:-5}
PORT=${PORT:-5055}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
REF=127.0.0.1:$PORT/bench/big:latest

check_positive_int RUNS "$RUNS"
need_cmds skopeo umoci docker-registry curl jq
[[ -x /usr/bin/time ]] || die "GNU time missing (apt-get install -y time)"

# check_store DIR: every blob of the image must be in DIR with the right size.
check_store() {
	local dir=$1 digest size f
	while read -r digest size; do
		f=$dir/blobs/${digest/://}
		[[ -f $f && $(stat -c %s "$f") == "$size" ]] || return 1
	done < <(jq -r '.config, .layers[] | "\(.digest) \(.size)"' <<<"$MANIFEST")
	[[ -f $dir/index.json ]]
}

# run_one NAME DEST CMD...: time CMD, a pull into the empty dir DEST, check
# DEST, delete it; append the results to WALL_US_<NAME> and RSS_KIB_<NAME>.
run_one() {
	local name=$1 dest=$2
	shift 2
	local logf=$RUNS_DIR/$name.log
	sync
	timed "$logf" "$@" || die "$name failed (command: $*)"
	local rss=$TIMED_RSS_KIB
	if ! check_store "$dest"; then
		tail -n 20 "$logf" >&2
		die "$name exited 0 but $dest does not hold all blobs of $REF; not a valid measurement"
	fi
	local -n wall=WALL_US_$name peak=RSS_KIB_$name
	wall+=("$TIMED_US")
	peak+=("$rss")
	log "  $name: $(fmt_s "${wall[-1]}") s, peak RSS $(kib_mib "$rss") MiB"
	rm -rf "$dest"
	sync
}

# --- setup ------------------------------------------------------------------
IMAGEADM_BIN=$(aurora_bin imageadm --build) # what the source says now, never a stale binary
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
RUNS_DIR=$BENCH_DIR/runs # fresh stores and logs; all removed at exit
rm -rf "$RUNS_DIR"
mkdir -p "$RUNS_DIR"
on_exit rm -rf "$RUNS_DIR"

# shellcheck disable=SC2034 # filled by testenv_up (the facts: ADDRESS, STARTED, ...)
declare -A SOURCE_REGISTRY=() # the tests' registry (aurora-testenv); stopped at exit if started here
testenv_up SOURCE_REGISTRY registry "$BENCH_DIR/registry" --port "$PORT"
bench_image_ensure "$BENCH_DIR" "$REF"

MANIFEST=$(remote_manifest "$REF")
LAYERS=$(jq '.layers | length' <<<"$MANIFEST")
COMPRESSED=$(jq '[.layers[].size] | add' <<<"$MANIFEST")
log "image: $LAYERS layers, $COMPRESSED bytes compressed ($(mib "$COMPRESSED") MiB)"

log "warming the registry's page cache (reading every blob once, untimed)"
jq -r '.config.digest, .layers[].digest' <<<"$MANIFEST" | while read -r digest; do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v2/bench/big/blobs/$digest"
done

# --- measure ----------------------------------------------------------------
LOADAVG=$(load_check)
# shellcheck disable=SC2034 # filled and read through namerefs (run_one, report)
WALL_US_imageadm=() RSS_KIB_imageadm=() WALL_US_skopeo=() RSS_KIB_skopeo=()
for ((round = 1; round <= RUNS; round++)); do
	# A-B, B-A, A-B, ...: cancels any (dis)advantage of going first in a round.
	order=(imageadm skopeo)
	((round % 2)) || order=(skopeo imageadm)
	log "round $round/$RUNS"
	for tool in "${order[@]}"; do
		dest=$(mktemp -d "$RUNS_DIR/store.XXXXXX")
		case $tool in
		imageadm) run_one imageadm "$dest" "$IMAGEADM_BIN" --quiet --root "$dest" pull "$REF" ;;
		skopeo) run_one skopeo "$dest" skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$dest:big" ;;
		esac
	done
done

# --- report -----------------------------------------------------------------
declare -A MED_US MIN_US MAX_US MED_RSS_KIB
for tool in imageadm skopeo; do
	declare -n w=WALL_US_$tool r=RSS_KIB_$tool
	MED_US[$tool]=$(median "${w[@]}")
	MIN_US[$tool]=$(min_of "${w[@]}")
	MAX_US[$tool]=$(max_of "${w[@]}")
	MED_RSS_KIB[$tool]=$(median "${r[@]}")
	unset -n w r
done
ratio=$(awk -v s="${MED_US[skopeo]}" -v i="${MED_US[imageadm]}" 'BEGIN { printf "%.2f", s / i }')

echo
echo "Image:  $REF - $LAYERS layers, $(mib "$COMPRESSED") MiB compressed ($COMPRESSED bytes)"
echo "Runs:   $RUNS per tool, alternating (ABBA order), fresh empty store each run, sync before each"
echo
printf '%-10s %10s %10s %10s %22s\n' tool "median s" "min s" "max s" "median peak RSS MiB"
for tool in imageadm skopeo; do
	printf '%-10s %10s %10s %10s %22s\n' "$tool" "$(fmt_s "${MED_US[$tool]}")" "$(fmt_s "${MIN_US[$tool]}")" \
		"$(fmt_s "${MAX_US[$tool]}")" "$(kib_mib "${MED_RSS_KIB[$tool]}")"
done
echo
if awk -v r="$ratio" 'BEGIN { exit !(r >= 1) }'; then
	echo "imageadm is ${ratio}× faster than skopeo (median wall clock, skopeo/imageadm = $ratio)"
else
	echo "imageadm is $(awk -v r="$ratio" 'BEGIN { printf "%.2f", 1 / r }')× slower than skopeo (median wall clock, skopeo/imageadm = $ratio)"
fi

# tool_json NAME BINARY: the per-tool part of the JSON line.
tool_json() {
	local -n w=WALL_US_$1 r=RSS_KIB_$1
	jq -nc --arg bin "$2" --argjson med "${MED_US[$1]}" --argjson rss "${MED_RSS_KIB[$1]}" \
		--argjson wall "$(json_nums "${w[@]}")" --argjson peak "$(json_nums "${r[@]}")" \
		'{binary: $bin, median_s: ($med / 1e6), median_peak_rss_mib: ($rss / 1024 * 10 | round / 10),
		  wall_s: [$wall[] / 1e6], peak_rss_kib: $peak}'
}
jq -nc --arg ref "$REF" --argjson layers "$LAYERS" --argjson bytes "$COMPRESSED" --argjson runs "$RUNS" \
	--argjson imageadm "$(tool_json imageadm "$IMAGEADM_BIN")" \
	--argjson skopeo "$(tool_json skopeo "$(command -v skopeo)")" \
	--argjson ratio "$ratio" --arg date "$(date -Is)" --argjson cpus "$(nproc)" --argjson load "$LOADAVG" \
	'{benchmark: "pull", date: $date, cpus: $cpus, loadavg_at_start: $load,
	  image: $ref, layers: $layers, compressed_bytes: $bytes, runs: $runs,
	  imageadm: $imageadm, skopeo: $skopeo, speedup_skopeo_over_imageadm: $ratio}'
