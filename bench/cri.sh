#!/usr/bin/env bash
#
# bench/cri.sh - critest's own benchmarks (`critest --benchmark`, cri-tools v1.32) against
# aurora-cri and against containerd 1.6 (its CRI plugin, runc), on this machine, with the same
# images from the same loopback registry (through registry mirrors), the same CNI plugins and
# equivalent bridge networks. A measurement, not a test.
#
#     bench/cri.sh          # as root; RUNS=1 SAMPLES=5 IMAGES=3 SCRATCH=1 for a quick look
#
# About 2 minutes of benchmarks with the defaults (plus the builds and the images).
#
# - Images: scripts/cri-lib.sh's stand-ins for what the benchmarks pull (busybox 1.29-2, the
#   public.ecr.aws busybox tags; one image under six names), plus a pause image for
#   containerd's sandboxes (static podinit in `pause` mode, FROM scratch), pushed to a
#   loopback registry on 127.0.0.1:$PORT under their original repository paths.
#   registry.k8s.io, gcr.io and public.ecr.aws are mirrored to it: aurora-cri through
#   [[registries.mirror]] in its aurora.toml, containerd through a hosts.toml per registry.
# - Runtimes, each started fresh for a round and torn down after it (state removed):
#   containerd  /usr/bin/containerd, config version 2 written here: root on $BENCH_DIR,
#               state and socket under /run/aurora-bench, overlayfs snapshotter, runc
#               (/usr/sbin/runc, cgroupfs), CNI conf_dir of its own, sandbox_image the
#               pause stand-in (pulled before the benchmarks, untimed)
#   aurora-cri  release build (podadm release, runz and aurora-monitor with the `runtime`
#               profile, beside it), root on $BENCH_DIR, run root under /run/aurora-bench;
#               pods need no image (podinit's pause)
#   Networks: CNI bridge + portmap, host-local IPAM; bridge cribench-ctd0 10.201.0.0/16 for
#   containerd, cribench-aur0 10.202.0.0/16 for aurora-cri; plugins from /usr/lib/cni.
# - Per round, the runtimes in turn (the first alternating per round), each benchmark its own
#   critest invocation (--ginkgo.skip leaving one spec; specs are in random order otherwise):
#     pod         podsNumber=SAMPLES lifecycles: RunPodSandbox, PodSandboxStatus,
#                 StopPodSandbox, RemovePodSandbox
#     container   containersNumber=SAMPLES lifecycles, each in a new pod (not timed):
#                 CreateContainer (ImageStatus first), Start, Status, Stop, Remove
#     image       imagesNumber=IMAGES: PullImage (busybox:1.35.0-glibc, whose blobs are
#                 already in the store as busybox:1.29-2's: a manifest and config fetch and
#                 a name), ImageStatus, RemoveImage
#     image-list  imagesNumber=IMAGES ListImages (the five listing tags pulled first)
#     scratch     SCRATCH invocations of "start a container from scratch" (one warm-up, then
#                 one timed RunPodSandbox + CreateContainer + StartContainer + StopPodSandbox
#                 + RemovePodSandbox; from --ginkgo.json-report)
#   Before the benchmarks, untimed: busybox:1.29-2 (critest's container image) pulled.
# - Prints, per benchmark and operation, the median and p90 (nearest rank over every
#   datapoint of every round) of both runtimes and containerd/aurora (> 1: Aurora faster);
#   `cycle` is the sum of a datapoint's operations. Then one JSON line last on stdout.
#   critest's raw JSON, its logs and the servers' logs stay in $BENCH_DIR/cri/results.
#
# Env: RUNS        rounds (default 3)
#      SAMPLES     pod and container lifecycles per round (default 20)
#      IMAGES      image pulls and listings per round (default 10)
#      SCRATCH     "from scratch" runs per round (default 5)
#      AURORA_CRI  aurora-cri binary with podadm, runz and aurora-monitor beside it (default:
#                  cargo build, as above; all copied into $BENCH_DIR/cri/bin)
#      PODINIT     static podinit (default: scripts/build-podinit.sh)
#      CONTAINERD  containerd binary (default /usr/bin/containerd); RUNC (default /usr/sbin/runc)
#      CRITEST_BIN_DIR  critest and crictl (default /work/shared/tools/cri-tools)
#      PORT        registry port on 127.0.0.1 (default 5088)
#      BENCH_DIR   work dir (default /var/tmp/aurora-bench)
# Requires: root; containerd, runc, the CNI plugins in /usr/lib/cni, docker-registry, skopeo,
#           umoci, busybox-static, python3, jq, curl, ip.

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=scripts/cri-lib.sh
source "$AURORA_ROOT_DIR/scripts/cri-lib.sh"

RUNS=${RUNS:-3}
SAMPLES=${SAMPLES:-20}
IMAGES=${IMAGES:-10}
SCRATCH=${SCRATCH:-5}
PORT=${PORT:-5088}
BENCH_DIR=${BENCH_DIR:-/var/tmp/aurora-bench}
CONTAINERD=${CONTAINERD:-/usr/bin/containerd}
RUNC=${RUNC:-/usr/sbin/runc}
TOOLS=${CRITEST_BIN_DIR:-/work/shared/tools/cri-tools}
for v in RUNS SAMPLES IMAGES SCRATCH PORT; do check_positive_int "$v" "${!v}"; done
(($(id -u) == 0)) || die "bench/cri.sh needs root"
need_cmds docker-registry skopeo umoci busybox python3 jq curl ip findmnt
[[ -x $CONTAINERD && -x $RUNC ]] || die "containerd ($CONTAINERD) or runc ($RUNC) missing"
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap && -x /usr/lib/cni/loopback ]] ||
	die "CNI plugins missing in /usr/lib/cni (apt-get install -y containernetworking-plugins)"
[[ -x $TOOLS/critest && -x $TOOLS/crictl ]] || die "no critest and crictl in $TOOLS (set CRITEST_BIN_DIR)"

WORK=$BENCH_DIR/cri
RUNDIR=/run/aurora-bench
BIN=$WORK/bin
RESULTS=$WORK/results
REGISTRY=127.0.0.1:$PORT
PAUSE_IMAGE=registry.k8s.io/aurora-bench/pause:1
BUSYBOX_IMAGE=registry.k8s.io/e2e-test-images/busybox:1.29-2
LISTING_IMAGES=()
for tag in 1.35.0-glibc 1-uclibc 1 1-glibc 1-musl; do LISTING_IMAGES+=("public.ecr.aws/docker/library/busybox:$tag"); done
BENCHMARKS=(pod container image image-list)

# Per runtime: socket, data root, run-time state, network.
CTD_SOCK=$RUNDIR/containerd.sock
CTD_ROOT=$WORK/containerd/root
CTD_STATE=$RUNDIR/containerd-state
CTD_NET=aurora-bench-ctd CTD_BRIDGE=cribench-ctd0 CTD_SUBNET=10.201.0.0/16
AUR_SOCK=$RUNDIR/aurora-cri.sock
AUR_ROOT=$WORK/aurora/root
AUR_RUN=$RUNDIR/aurora-run
AUR_NET=aurora-bench-aur AUR_BRIDGE=cribench-aur0 AUR_SUBNET=10.202.0.0/16

for sock in "$CTD_SOCK" "$AUR_SOCK"; do
	[[ ! -S $sock ]] || ! "$TOOLS/crictl" --runtime-endpoint "unix://$sock" version >/dev/null 2>&1 ||
		die "something already serves $sock: another bench/cri.sh?"
done
mkdir -p "$WORK" "$RUNDIR"
printf 'timeout: 120\n' >"$WORK/crictl.yaml" # crictl warns when it has no config file
# crictl_at SOCKET ARGS...
crictl_at() { "$TOOLS/crictl" --config "$WORK/crictl.yaml" --runtime-endpoint "unix://$1" "${@:2}"; }

# --- binaries -------------------------------------------------------------------------
mkdir -p "$BIN"
target=${CARGO_TARGET_DIR:-$AURORA_ROOT_DIR/target}
if [[ -n ${AURORA_CRI:-} ]]; then
	[[ -x $AURORA_CRI ]] || die "AURORA_CRI=$AURORA_CRI is not an executable file"
	for b in aurora-cri podadm runz aurora-monitor; do
		src=$(dirname "$AURORA_CRI")/$b
		[[ $b != aurora-cri ]] || src=$AURORA_CRI
		[[ -x $src ]] || die "$src missing (podadm, runz and aurora-monitor go beside AURORA_CRI)"
		cp "$src" "$BIN/$b"
	done
	IMAGEADM=$(aurora_bin imageadm)
else
	log "building aurora-cri, podadm, imageadm (release) and runz, aurora-monitor (profile runtime)"
	(cd "$AURORA_ROOT_DIR" && cargo build --release --locked -p aurora-cri -p podadm -p imageadm --bins >&2 &&
		cargo build --profile runtime --locked -p runz -p aurora-monitor >&2)
	cp "$target/release/aurora-cri" "$target/release/podadm" "$target/runtime/runz" "$target/runtime/aurora-monitor" "$BIN/"
	IMAGEADM=$target/release/imageadm
fi
[[ -n ${PODINIT:-} ]] || PODINIT=$("$AURORA_ROOT_DIR/scripts/build-podinit.sh")
cp "$PODINIT" "$BIN/podinit"
"$BIN/aurora-cri" --help | grep -q -- --cni-conf-dir || die "$BIN/aurora-cri has no --cni-conf-dir"

# --- cleanup ---------------------------------------------------------------------------
# UP: the runtime running now (its teardown is idempotent and runs at exit too).
UP=
shim_pids() {
	# containerd-shim-runc-v2 processes of this containerd: -address names its socket.
	local pid
	# (comm is cut at 15 characters: containerd-shim-runc-v2 is "containerd-shim")
	for pid in $(pgrep -x containerd-shim || true); do
		tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$CTD_SOCK" && echo "$pid"
	done
	return 0
}
containerd_down() {
	local pid id
	if [[ -S $CTD_SOCK ]]; then
		crictl_at "$CTD_SOCK" rmp --all --force >/dev/null 2>&1 ||
			warn "crictl rmp --all --force failed against containerd"
	fi
	[[ -z ${CTD_PID:-} ]] || cri_stop_pid "$CTD_PID"
	CTD_PID=
	# Anything left: containers (runc's state under ours), then their shims.
	if [[ -d $CTD_STATE/runc/k8s.io ]]; then
		for id in $("$RUNC" --root "$CTD_STATE/runc/k8s.io" list -q 2>/dev/null); do
			"$RUNC" --root "$CTD_STATE/runc/k8s.io" delete --force "$id" 2>/dev/null || warn "runc delete --force $id failed"
		done
	fi
	for pid in $(shim_pids); do
		warn "stopping leftover containerd-shim-runc-v2 $pid"
		cri_stop_pid "$pid" 5
	done
	umount_tree "$CTD_STATE"
	umount_tree "$CTD_ROOT"
	rm -rf "$CTD_STATE" "$CTD_SOCK" "$CTD_SOCK.ttrpc"
	purge_tree "$CTD_ROOT"
	cri_delete_bridge "$CTD_BRIDGE"
	cri_forget_network "$CTD_NET"
}
aurora_pa() { "$BIN/podadm" --root "$AUR_ROOT" --runroot "$AUR_RUN" "$@"; }
aurora_down() {
	if [[ -S $AUR_SOCK ]]; then
		crictl_at "$AUR_SOCK" rmp --all --force >/dev/null 2>&1 ||
			warn "crictl rmp --all --force failed against aurora-cri"
	fi
	[[ -z ${AUR_PID:-} ]] || cri_stop_pid "$AUR_PID"
	AUR_PID=
	if [[ -d $AUR_ROOT ]]; then
		aurora_pa pod rm -f --all >/dev/null 2>&1 || warn "podadm pod rm -f --all failed"
		aurora_pa rm -f -t 0 --all >/dev/null 2>&1 || warn "podadm rm -f -t 0 --all failed"
	fi
	umount_tree "$AUR_RUN"
	rm -rf "$AUR_RUN" "$AUR_SOCK"
	purge_tree "$AUR_ROOT"
	cri_delete_bridge "$AUR_BRIDGE"
	cri_forget_network "$AUR_NET"
}
cleanup_all() {
	case $UP in
	containerd) containerd_down ;;
	aurora) aurora_down ;;
	esac
	UP=
	# Both, in case a teardown was interrupted; both are no-ops on nothing.
	containerd_down 2>/dev/null || true
	aurora_down 2>/dev/null || true
	rmdir "$RUNDIR" 2>/dev/null || true
	purge_tree "$WORK/store"
	rm -rf "$WORK/build"
}
# Registered before the registry is started: runs after the registry is stopped (if this
# script started it), which needs nothing of the runtimes.
on_exit cleanup_all

# --- images ------------------------------------------------------------------------------
BENCH_DIR_SAVED=$BENCH_DIR
BENCH_DIR=$WORK # busybox_image_in_registry keeps the registry's data in $BENCH_DIR/registry
cri_images benchmark
BENCH_DIR=$BENCH_DIR_SAVED
mkdir -p "$WORK/build/pause"
cp "$BIN/podinit" "$WORK/build/pause/podinit"
cat >"$WORK/build/pause/Containerfile" <<'EOF'
# containerd's sandbox image here: podinit's pause (sleeps, reaps, exits 0 on TERM or INT).
FROM scratch
COPY podinit /pause
ENTRYPOINT ["/pause", "pause"]
EOF
cri_imageadm build -t "$REGISTRY/${PAUSE_IMAGE#*/}" "$WORK/build/pause" >/dev/null
cri_imageadm push "$REGISTRY/${PAUSE_IMAGE#*/}"
log "pushed ${PAUSE_IMAGE#*/} (containerd's sandbox image)"

# --- configuration --------------------------------------------------------------------------
mkdir -p "$WORK/containerd/certs.d" "$RESULTS"
for registry in "${CRI_MIRRORED[@]}"; do
	mkdir -p "$WORK/containerd/certs.d/$registry"
	printf 'server = "https://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
		"$registry" "$REGISTRY" >"$WORK/containerd/certs.d/$registry/hosts.toml"
done
rm -rf "$WORK/containerd/net.d" "$WORK/aurora/net.d"
cri_bridge_conflist "$WORK/containerd/net.d/10-bench.conflist" "$CTD_NET" "$CTD_BRIDGE" "$CTD_SUBNET"
cri_bridge_conflist "$WORK/aurora/net.d/10-bench.conflist" "$AUR_NET" "$AUR_BRIDGE" "$AUR_SUBNET"
cat >"$WORK/containerd/config.toml" <<EOF
# Written by bench/cri.sh.
version = 2
root = "$CTD_ROOT"
state = "$CTD_STATE"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$CTD_SOCK"

[ttrpc]
  address = "$CTD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTD_ROOT/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  netns_mounts_under_state_dir = true
  # Root here lacks CAP_SYS_RESOURCE: the sandboxes' oom_score_adj -998 would fail runc's
  # create ("failed to update /proc/self/oom_score_adj"); clamped to containerd's own instead.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "$RUNC"
  Root = "$CTD_STATE/runc"
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$WORK/containerd/net.d"

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "$WORK/containerd/certs.d"
EOF
cri_aurora_config "$WORK/aurora/aurora.toml"
params=$WORK/benchmark.yaml
cri_benchmark_params "$params" "$SAMPLES" "$SAMPLES" "$IMAGES"

# --- runtimes up ------------------------------------------------------------------------------
# runtime_up NAME LOG: started, answering, with the images the benchmarks must not time.
SOCK=
crictl_() { crictl_at "$SOCK" "$@"; }
runtime_up() {
	local logf=$2
	case $1 in
	containerd)
		SOCK=$CTD_SOCK
		containerd_down 2>/dev/null || true
		mkdir -p "$CTD_ROOT" "$CTD_STATE"
		UP=containerd
		"$CONTAINERD" --config "$WORK/containerd/config.toml" --log-level warn >"$logf" 2>&1 &
		CTD_PID=$!
		cri_wait_ready "$SOCK" "$CTD_PID" "$logf" containerd
		crictl_ pull "$PAUSE_IMAGE" >/dev/null || die "containerd could not pull $PAUSE_IMAGE (log $logf)"
		;;
	aurora)
		SOCK=$AUR_SOCK
		aurora_down 2>/dev/null || true
		mkdir -p "$AUR_ROOT" "$AUR_RUN"
		UP=aurora
		# No RUST_LOG: the server's children (runz, podadm) would inherit it.
		env -u RUST_LOG AURORA_PODINIT="$BIN/podinit" "$BIN/aurora-cri" --listen "$SOCK" \
			--config "$WORK/aurora/aurora.toml" --root "$AUR_ROOT" --runroot "$AUR_RUN" \
			--podadm "$BIN/podadm" --cni-conf-dir "$WORK/aurora/net.d" >"$logf" 2>&1 &
		AUR_PID=$!
		cri_wait_ready "$SOCK" "$AUR_PID" "$logf" aurora-cri
		;;
	esac
	crictl_ pull "$BUSYBOX_IMAGE" >/dev/null || die "$1 could not pull $BUSYBOX_IMAGE (log $logf)"
}
runtime_down() {
	case $1 in
	containerd) containerd_down ;;
	aurora) aurora_down ;;
	esac
	UP=
}

# --- critest ------------------------------------------------------------------------------------
FAILED=()
# critest_one RUNTIME BENCHMARK OUTDIR: one critest --benchmark run of one spec.
critest_one() {
	local rt=$1 bench=$2 out=$3 rc=0 spec=$2
	[[ $spec != scratch-* ]] || spec=scratch
	mkdir -p "$out"
	if [[ $spec == image-list ]]; then
		local image
		for image in "${LISTING_IMAGES[@]}"; do
			crictl_ pull "$image" >/dev/null || warn "$rt could not pull $image"
		done
	fi
	"$TOOLS/critest" --runtime-endpoint "unix://$SOCK" --ginkgo.no-color --benchmark \
		--benchmarking-params-file "$params" --benchmarking-output-dir "$out" \
		--ginkgo.skip "$(cri_critest_spec_skip "$spec")" --ginkgo.json-report "$out/report.json" \
		>"$out/critest.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		warn "critest --benchmark ($spec) failed against $rt (exit $rc); $out/critest.log:"
		grep -E '\[FAILED\]|rpc error|Expected|failed' "$out/critest.log" | head -n 15 >&2 || tail -n 15 "$out/critest.log" >&2
		FAILED+=("$rt:$bench")
	fi
}

LOAD=$(load_check)
log "load average $LOAD on $(nproc) CPUs; $RUNS round(s), SAMPLES=$SAMPLES IMAGES=$IMAGES SCRATCH=$SCRATCH"
started=$SECONDS
for ((round = 1; round <= RUNS; round++)); do
	order=(containerd aurora)
	((round % 2)) || order=(aurora containerd)
	for rt in "${order[@]}"; do
		dir=$RESULTS/$rt/round$round
		rm -rf "$dir"
		mkdir -p "$dir"
		log "round $round/$RUNS: $rt up (log $dir/server.log)"
		runtime_up "$rt" "$dir/server.log"
		for bench in "${BENCHMARKS[@]}"; do
			log "round $round/$RUNS: $rt: $bench"
			critest_one "$rt" "$bench" "$dir/$bench"
		done
		log "round $round/$RUNS: $rt: scratch x $SCRATCH"
		for ((i = 1; i <= SCRATCH; i++)); do critest_one "$rt" "scratch-$i" "$dir/scratch-$i"; done
		log "round $round/$RUNS: $rt down"
		runtime_down "$rt"
	done
done
log "benchmarks done in $((SECONDS - started)) s"

# --- summary ------------------------------------------------------------------------------------
python3 - "$RESULTS" "$RUNS" "$SAMPLES" "$IMAGES" "$SCRATCH" "$LOAD" \
	"$("$CONTAINERD" --version | awk '{ print $3 }')" "${FAILED[*]:-}" <<'EOF'
import glob, json, os, sys

results, runs, samples, images, scratch, load, ctd_version, failed = sys.argv[1:9]
runtimes = ["containerd", "aurora"]
files = [  # (benchmark, critest's file, operation names as they appear in it)
    ("pod", "pod_benchmark_data.json"),
    ("container", "container_benchmark_data.json"),
    ("image", "image_lifecycle_benchmark_data.json"),
    ("image-list", "image_listing_benchmark_data.json"),
]

def stats(ns):
    """median and p90 (nearest rank) in ms of a list of nanoseconds; n."""
    v = sorted(ns)
    n = len(v)
    if n == 0:
        return None
    med = v[(n - 1) // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    p90 = v[max(0, min(n - 1, int(n * 0.9 + 0.5) - 1))]
    return {"n": n, "median_ms": med / 1e6, "p90_ms": p90 / 1e6}

rows = []  # (benchmark, operation, {runtime: stats})
for bench, name in files:
    ops, data = [], {rt: {} for rt in runtimes}
    for rt in runtimes:
        for path in sorted(glob.glob(os.path.join(results, rt, "round*", bench, name))):
            doc = json.load(open(path))
            ops = doc.get("operationsNames") or ops
            for dp in doc.get("datapoints") or []:
                d = dp.get("operationsDurationsNs") or []
                for op, ns in zip(ops, d):
                    data[rt].setdefault(op, []).append(ns)
                if len(ops) > 1 and len(d) == len(ops):
                    data[rt].setdefault("cycle", []).append(sum(d))
    for op in ops + (["cycle"] if len(ops) > 1 else []):
        rows.append((bench, op, {rt: stats(data[rt].get(op, [])) for rt in runtimes}))

# "start a container from scratch": one gmeasure duration per critest run, in the JSON report.
scr = {rt: [] for rt in runtimes}
for rt in runtimes:
    for path in sorted(glob.glob(os.path.join(results, rt, "round*", "scratch-*", "report.json"))):
        for suite in json.load(open(path)):
            for spec in suite.get("SpecReports") or []:
                if spec.get("State") != "passed":
                    continue
                for entry in spec.get("ReportEntries") or []:
                    try:
                        exp = json.loads(entry["Value"]["AsJSON"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    for m in exp.get("Measurements") or []:
                        scr[rt].extend(m.get("Durations") or [])
rows.append(("scratch", "pod+ctr up, down", {rt: stats(scr[rt]) for rt in runtimes}))

def ms(s, key):
    return "%.1f" % s[key] if s else "-"

print()
print("critest --benchmark (v1.32): containerd %s (runc) vs aurora-cri; %s round(s), SAMPLES=%s IMAGES=%s SCRATCH=%s, load %s"
      % (ctd_version, runs, samples, images, scratch, load))
print("%-11s %-17s %5s %10s %8s %10s %8s %13s" % ("benchmark", "operation", "n", "ctd med", "ctd p90", "aur med", "aur p90", "ctd/aurora"))
out = {"runs": int(runs), "samples": int(samples), "images": int(images), "scratch": int(scratch),
       "load": float(load), "containerd": ctd_version, "failed": failed.split(), "benchmarks": {}}
for bench, op, st in rows:
    c, a = st["containerd"], st["aurora"]
    ratio = "%.2fx" % (c["median_ms"] / a["median_ms"]) if c and a and a["median_ms"] > 0 else "-"
    n = "/".join(str(s["n"]) if s else "0" for s in (c, a))
    print("%-11s %-17s %5s %10s %8s %10s %8s %13s" % (bench, op, n, ms(c, "median_ms"), ms(c, "p90_ms"),
                                                   ms(a, "median_ms"), ms(a, "p90_ms"), ratio))
    entry = {rt: st[rt] for rt in runtimes}
    if c and a and a["median_ms"] > 0:
        entry["ratio_median"] = round(c["median_ms"] / a["median_ms"], 3)
        entry["ratio_p90"] = round(c["p90_ms"] / a["p90_ms"], 3) if a["p90_ms"] > 0 else None
    out["benchmarks"].setdefault(bench, {})[op] = entry
print("(ms; n = datapoints containerd/aurora; ctd/aurora = ratio of medians, > 1: Aurora faster)")
if failed:
    print("FAILED critest runs: " + failed)
print()
print(json.dumps(out, separators=(",", ":")))
EOF
((${#FAILED[@]} == 0)) || die "critest --benchmark failed: ${FAILED[*]} (logs in $RESULTS)"
