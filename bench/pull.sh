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
# Env: IMAGEADM   imageadm binary (default target/release/imageadm, built if missing)
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
MIN_COMPRESSED=$((300 * 1000 * 1000)) # bytes, sum of the compressed layers
REF=127.0.0.1:$PORT/bench/big:latest
TAG=big

if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((10#$RUNS < 1)); then
	die "RUNS must be a positive integer, got '$RUNS'"
fi
need_cmds skopeo umoci docker-registry curl jq
[[ -x /usr/bin/time ]] || die "GNU time missing (apt-get install -y time)"

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# build_layout DIR: build the benchmark image into DIR (atomically: DIR only
# appears once complete) and write $BENCH_DIR/build.json.
build_layout() {
	local out=$1 tmp=$BENCH_DIR/layout.partial bundle=$BENCH_DIR/bundle.partial
	local multiarch src total deficit started=$SECONDS i=0
	rm -rf "$tmp" "$bundle"
	on_exit rm -rf "$tmp" "$bundle"
	multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")

	log "building the benchmark image in $tmp (one gzip layer per directory; takes minutes)"
	oci_new "$tmp" "$TAG" "$bundle"
	for src in "/usr/lib/$multiarch" /usr/share /usr/bin; do
		[[ -d $src ]] || die "$src does not exist on this host"
		i=$((i + 1))
		log "layer $i: $src ($(du -sh "$src" | cut -f1) uncompressed)"
		# Relative source: coreutils 9.1's cp --parents fails on absolute ones.
		(cd / && cp -a --parents "${src#/}" "$bundle/rootfs/")
		oci_layer "$tmp" "$TAG" "$bundle" "copy host $src"
	done
	total=$(oci_manifest "$tmp" "$TAG" | jq '[.layers[].size] | add')
	if ((total < MIN_COMPRESSED)); then
		# Host directories compress too well here; top up with incompressible data.
		deficit=$((MIN_COMPRESSED - total + 1000000))
		log "layer $((i + 1)): $(mib "$deficit") MiB of random data (host files gave only $(mib "$total") MiB)"
		mkdir -p "$bundle/rootfs/opt/bench"
		head -c "$deficit" /dev/urandom >"$bundle/rootfs/opt/bench/filler.bin"
		oci_layer "$tmp" "$TAG" "$bundle" "random filler to reach 300 MB"
	fi
	oci_config "$tmp" "$TAG" --config.cmd /usr/bin/sh --config.label org.opencontainers.image.title=aurora-bench-big
	rm -rf "$bundle" "$out"
	mv "$tmp" "$out"

	oci_manifest "$out" "$TAG" | jq -c --argjson s "$((SECONDS - started))" \
		'{build_seconds: $s, layers: (.layers | length), compressed_bytes: ([.layers[].size] | add)}' \
		>"$BENCH_DIR/build.json"
	log "image built in $((SECONDS - started))s: $(jq -r '"\(.layers) layers, \(.compressed_bytes) bytes compressed"' "$BENCH_DIR/build.json")"
}

# ensure_image: make sure REF is in the registry, building/pushing as needed.
ensure_image() {
	local started
	if remote_manifest "$REF" >/dev/null 2>&1; then
		log "$REF already in the registry"
		return 0
	fi
	if [[ ! -f $BENCH_DIR/build.json || ! -f $BENCH_DIR/layout/index.json ]]; then
		build_layout "$BENCH_DIR/layout"
	else
		log "using cached image layout $BENCH_DIR/layout"
	fi
	log "pushing to $REF"
	started=$SECONDS
	oci_push "$BENCH_DIR/layout" "$TAG" "$REF"
	log "pushed in $((SECONDS - started))s"
}

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
	local name=$1 dest=$2 t0 t1 rss
	shift 2
	local logf=$RUNS_DIR/$name.log rssf=$RUNS_DIR/$name.rss
	sync
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -f %M -o "$rssf" "$@" >"$logf" 2>&1; then
		tail -n 20 "$logf" >&2
		die "$name failed (command: $*)"
	fi
	t1=$EPOCHREALTIME
	rss=$(tail -n 1 "$rssf")
	if ! check_store "$dest"; then
		tail -n 20 "$logf" >&2
		die "$name exited 0 but $dest does not hold all blobs of $REF; not a valid measurement"
	fi
	local -n wall=WALL_US_$name peak=RSS_KIB_$name
	wall+=($((${t1/./} - ${t0/./})))
	peak+=("$rss")
	log "  $name: $(fmt_s "${wall[-1]}") s, peak RSS $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
	rm -rf "$dest"
	sync
}

fmt_s() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1e6 }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
json_nums() { printf '%s\n' "$@" | jq -sc .; }

# --- setup ------------------------------------------------------------------
# shellcheck disable=SC2119 # no --build: only build when the binary is missing
IMAGEADM_BIN=$(imageadm_bin)
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
RUNS_DIR=$BENCH_DIR/runs # fresh stores and logs; all removed at exit
rm -rf "$RUNS_DIR"
mkdir -p "$RUNS_DIR"
on_exit rm -rf "$RUNS_DIR"

registry_start "$BENCH_DIR/registry" "$PORT"
if ((REGISTRY_STARTED)); then
	on_exit registry_stop "$BENCH_DIR/registry"
fi
ensure_image

MANIFEST=$(remote_manifest "$REF")
LAYERS=$(jq '.layers | length' <<<"$MANIFEST")
COMPRESSED=$(jq '[.layers[].size] | add' <<<"$MANIFEST")
log "image: $LAYERS layers, $COMPRESSED bytes compressed ($(mib "$COMPRESSED") MiB)"

log "warming the registry's page cache (reading every blob once, untimed)"
jq -r '.config.digest, .layers[].digest' <<<"$MANIFEST" | while read -r digest; do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v2/bench/big/blobs/$digest"
done

# --- measure ----------------------------------------------------------------
LOADAVG=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOADAVG" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	warn "load average is $LOADAVG on $(nproc) CPUs: something else is busy, expect noisy numbers"
fi
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
	MIN_US[$tool]=$(printf '%s\n' "${w[@]}" | sort -n | head -n 1)
	MAX_US[$tool]=$(printf '%s\n' "${w[@]}" | sort -n | tail -n 1)
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
		"$(fmt_s "${MAX_US[$tool]}")" "$(awk -v k="${MED_RSS_KIB[$tool]}" 'BEGIN { printf "%.1f", k / 1024 }')"
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
