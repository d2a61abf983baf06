#!/usr/bin/env bash
#
# demo.sh - one-command Aurora demo for a fresh Debian 12 machine (run as root):
#
#     ./demo.sh
#
# 1. installs the Debian packages it needs (skipped when already installed),
# 2. builds imageadm and runz (cargo build --release; needs Rust >= 1.89) and
#    aurora-testenv (cargo build -p aurora-testkit),
# 3. starts a local registry on 127.0.0.1:$AURORA_DEMO_PORT with aurora-testenv, the
#    tests' own (reuses one that already answers there; stops it again at exit if this
#    script started it),
# 4. builds a 2-layer busybox image with umoci and pushes it with skopeo as
#    127.0.0.1:PORT/demo/busybox:latest,
# 5. pulls it with imageadm into a fresh store, lists it, and reads the store
#    back with skopeo to show it is a standard OCI image layout,
# 6. unpacks it into a runtime bundle (layers laid down once in the store's
#    storage, the container a clone of them), runs it with runz (and, to show that
#    the bundle is standard, with runc), shows `df`, and removes the bundle again,
# 7. runs the image with podadm in one command, from the same store (a clone of the same
#    layers, on podadm's default network), and lists what podadm keeps,
# 8. makes a pod whose second container reaches the first on localhost, then a warm pool
#    of two ready sandboxes, and times a run that claims one against a run without it.
#
# Safe to re-run: the image is rebuilt and re-pushed, the store is recreated.
# Env: AURORA_DEMO_DIR  work dir (default /var/tmp/aurora-demo: registry/, store/)
#      AURORA_DEMO_PORT registry port (default 5000)
#      IMAGEADM, RUNZ, PODADM, AURORA_MONITOR, AURORA_PODINIT   use these binaries instead of
#      building them

set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"

DEMO_DIR=${AURORA_DEMO_DIR:-/var/tmp/aurora-demo}
PORT=${AURORA_DEMO_PORT:-5000}
REF=127.0.0.1:$PORT/demo/busybox:latest
STORE=$DEMO_DIR/store

say() { printf '\n%s\n' "$*"; }

mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)

log "step 1/8: packages"
install_packages
need_cmds docker-registry skopeo umoci curl jq runc
[[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install -y busybox-static)"

log "step 2/8: imageadm, runz, podadm, aurora-monitor and podinit"
IMAGEADM_BIN=$(aurora_bin imageadm --build)
RUNZ_BIN=$(aurora_bin runz --build)
PODADM_BIN=$(aurora_bin podadm --build)
MONITOR_BIN=$(aurora_bin aurora-monitor --build)
# Static: a pod's infra container and the pool's sandboxes run it from the host.
AURORA_PODINIT=${AURORA_PODINIT:-$("$AURORA_ROOT_DIR/scripts/build-podinit.sh" | tail -n 1)}
export AURORA_PODINIT

log "step 3/8: local registry on 127.0.0.1:$PORT"
# The tests' registry (aurora-testenv, crates/testkit); stopped at exit if started here.
declare -A DEMO_REGISTRY=()
testenv_up DEMO_REGISTRY registry "$DEMO_DIR/registry" --port "$PORT"
if ((DEMO_REGISTRY[STARTED])); then
	log "registry started on ${DEMO_REGISTRY[ADDRESS]} (data in ${DEMO_REGISTRY[DATA]})"
else
	log "a registry is already answering on ${DEMO_REGISTRY[ADDRESS]}; using it"
fi

log "step 4/8: building and pushing $REF"
build_demo_image "$REF" "$DEMO_DIR"

log "step 5/8: pulling with imageadm into $STORE"
BUNDLE=$DEMO_DIR/bundle
if [[ -f $BUNDLE/.aurora-bundle.json ]]; then
	# A bundle left by an interrupted run: its container may be mounted inside the store.
	"$IMAGEADM_BIN" --quiet --root "$STORE" rm-bundle "$BUNDLE" || die "cannot remove the old bundle $BUNDLE"
fi
rm -rf "$STORE" "$BUNDLE"
say "\$ imageadm --root $STORE pull $REF"
"$IMAGEADM_BIN" --root "$STORE" pull "$REF"
[[ -f $STORE/index.json ]] || die "imageadm pull succeeded but wrote no OCI layout to $STORE (no index.json)"
say "\$ imageadm --root $STORE images"
"$IMAGEADM_BIN" --root "$STORE" images
say "\$ skopeo inspect oci:$STORE:$REF"
skopeo inspect "oci:$STORE:$REF"

log "step 6/8: unpacking into $BUNDLE and running it with runz, then runc"
say "\$ imageadm --root $STORE unpack $REF $BUNDLE -- /bin/sh -c '…'"
"$IMAGEADM_BIN" --root "$STORE" unpack "$REF" "$BUNDLE" -- \
	/bin/sh -c 'echo "hello from $(uname -n): $(ls /bin | wc -l) entries in /bin, running as $(id -un)"'
say "\$ runz run --bundle $BUNDLE aurora-demo"
"$RUNZ_BIN" delete -f aurora-demo >/dev/null 2>&1 || true
"$RUNZ_BIN" run --bundle "$BUNDLE" aurora-demo </dev/null
say "\$ runc run --bundle $BUNDLE aurora-demo"
runc delete -f aurora-demo >/dev/null 2>&1 || true
runc run --bundle "$BUNDLE" aurora-demo </dev/null
say "\$ imageadm --root $STORE df"
"$IMAGEADM_BIN" --root "$STORE" df
say "\$ imageadm --root $STORE rm-bundle $BUNDLE"
"$IMAGEADM_BIN" --root "$STORE" rm-bundle "$BUNDLE"

log "step 7/8: running the image with podadm, from the same store"
# podadm finds runz and aurora-monitor beside itself (or on PATH).
PATH=$(dirname "$MONITOR_BIN"):$(dirname "$RUNZ_BIN"):$PATH
RUNROOT=$(mktemp -d /run/aurora-demo.XXXXXX)
on_exit rm -rf "$RUNROOT"
# Network namespaces live under a shared bind mount of RUNROOT/netns (as podman's /run/netns).
on_exit umount_tree "$RUNROOT"
on_exit "$PODADM_BIN" --root "$STORE" --runroot "$RUNROOT" rm -f -t 0 --all
say "\$ podadm --root $STORE run --rm --name hello $REF /bin/sh -c '…'"
"$PODADM_BIN" --root "$STORE" --runroot "$RUNROOT" run --rm --name hello "$REF" \
	/bin/sh -c 'echo "hello from podadm: $(uname -n) is $(cat /etc/hostname), eth0 $(cat /sys/class/net/eth0/address 2>/dev/null || echo none)"'
say "\$ podadm --root $STORE run -d --name sleeper $REF /bin/sh -c 'echo started; exec sleep 30' (then ps, logs, rm -f)"
"$PODADM_BIN" --root "$STORE" --runroot "$RUNROOT" run -d --name sleeper "$REF" /bin/sh -c 'echo started; exec sleep 30' >/dev/null
"$PODADM_BIN" --root "$STORE" --runroot "$RUNROOT" ps
"$PODADM_BIN" --root "$STORE" --runroot "$RUNROOT" logs sleeper
"$PODADM_BIN" --root "$STORE" --runroot "$RUNROOT" rm -f -t 0 sleeper >/dev/null

log "step 8/8: a pod, and a warm pool of ready sandboxes"
pa() { "$PODADM_BIN" --root "$STORE" --runroot "$RUNROOT" "$@"; }
# shellcheck disable=SC2317 # called at exit
pod_and_pool_gone() {
	pa pool rm "$REF" >/dev/null 2>&1 || true
	pa pod rm -f --all >/dev/null 2>&1 || true
}
on_exit pod_and_pool_gone
say "\$ podadm pod create --name demo-pod; podadm run -d --pod demo-pod --name web $REF busybox httpd -f -p 8080 -h /etc"
pa pod create --name demo-pod >/dev/null
pa run -d --pod demo-pod --name web "$REF" busybox httpd -f -p 8080 -h /etc >/dev/null
say "\$ podadm run --rm --pod demo-pod $REF busybox wget -qO- http://127.0.0.1:8080/hostname   (the pod's localhost)"
served=
for _ in $(seq 50); do
	served=$(pa run --rm --pod demo-pod "$REF" busybox wget -qO- http://127.0.0.1:8080/hostname 2>/dev/null) && break
	sleep 0.1
done
[[ -n $served ]] || die "the pod's web container did not answer on its localhost"
echo "served by the pod's web container: $served (the pod's hostname)"
pa pod ps
pa pod rm -f demo-pod >/dev/null
# ms_of CMD...: runs CMD (output dropped) and prints how long it took, in ms.
ms_of() {
	local t0=$EPOCHREALTIME t1
	"$@" >/dev/null || die "failed: $*"
	t1=$EPOCHREALTIME
	awk -v us=$((${t1/./} - ${t0/./})) 'BEGIN { printf "%.1f", us / 1000 }'
}
say "\$ podadm pool set $REF --size 2 --network none   (then run --rm --network none $REF busybox true)"
pa pool set "$REF" --size 2 --network none >/dev/null
ready() { pa pool ls --format json | jq --arg ref "$REF" '[.[] | select(.image == $ref)][0].ready // 0'; }
for _ in $(seq 100); do
	[[ $(ready) == 2 ]] && break
	sleep 0.1
done
pa pool ls
pooled=$(ms_of pa run --rm --network none "$REF" busybox true)
pa pool rm "$REF" >/dev/null
plain=$(ms_of pa run --rm --network none "$REF" busybox true)
echo "run --rm busybox true: ${pooled} ms claiming a ready sandbox, ${plain} ms without the pool (one run each; bench/pool.sh measures properly)"

cat <<EOF

What happened:
  - umoci built a 2-layer OCI image (static busybox + /etc) and skopeo pushed
    it to the local registry at http://127.0.0.1:$PORT as $REF.
  - imageadm ($IMAGEADM_BIN) pulled it over plain HTTP (loopback registries need
    no --insecure-registry) into $STORE.
  - The store is a standard OCI image layout: skopeo, a different
    implementation, read the image back straight from it.
  - imageadm unpack laid the two layers down once in the store's storage
    ($(jq -r .driver "$STORE/.aurora/storage.json") driver, chosen from the filesystem), made the container
    a clone of them, and wrote a runtime bundle that runz ($RUNZ_BIN), and then
    runc, ran as it is.
    A second unpack of the same image is only a clone.
  - podadm ($PODADM_BIN) ran the same image from the same store in one command:
    a clone of the same layers, run by runz under aurora-monitor, on podadm's default
    network (netavark), removed again with --rm.
  - A pod shared its network: a second container reached the first on localhost.
    A warm pool kept two sandboxes ready (clone, bundle, namespaces, cgroup,
    the container created and waiting), and run claimed one instead of
    making it; a detached refiller made the next.
EOF
if ((DEMO_REGISTRY[STARTED])); then
	cat <<EOF
  - The registry this script started is stopped on exit; its data stays in
    $DEMO_DIR/registry (scripts/registry.sh start $DEMO_DIR/registry $PORT).
EOF
fi
echo "Try: $IMAGEADM_BIN --root $STORE inspect $REF"
