# shellcheck shell=bash
#
# scripts/cri-lib.sh - what scripts/critest.sh and bench/cri.sh share: critest's stand-in images
# in a loopback registry, aurora-cri's config (registry mirrors), a CNI bridge network, and a CRI
# server waited for and stopped. Source it after scripts/lib.sh:
#
#     source "$AURORA_ROOT_DIR/scripts/cri-lib.sh"
#
# The functions read these globals, which the caller sets:
#   WORK       work directory (the image store WORK/store, build contexts WORK/build)
#   REGISTRY   the loopback registry, 127.0.0.1:PORT (BENCH_DIR and PORT for
#              busybox_image_in_registry, which starts it)
#   IMAGEADM   the imageadm binary
#   TOOLS      the directory holding critest and crictl
#
#   CRI_MIRRORED                        the registries critest pulls from, mirrored to REGISTRY
#   cri_imageadm ARGS...                imageadm on WORK/store, no config file, quiet
#   cri_build_push CONTEXT DEST... [-- BUILD_ARGS...]
#                                       tests/critest/images/CONTEXT built FROM the base and
#                                       pushed to each REGISTRY/DEST (after cri_images_prepare)
#   cri_images_prepare                  the registry up, the busybox base in it, the contexts
#                                       copied to WORK/build (sets CRI_BASE)
#   cri_images all|benchmark            the stand-ins: all critest's images, or only those its
#                                       benchmarks pull (busybox 1.29-2 and the five
#                                       public.ecr.aws busybox tags)
#   cri_aurora_config FILE              aurora.toml: CRI_MIRRORED mirrored to REGISTRY
#   cri_bridge_conflist FILE NAME BRIDGE SUBNET
#                                       a CNI bridge + portmap network (host-local IPAM)
#   cri_delete_bridge BRIDGE            the bridge removed if it exists
#   cri_forget_network NAME             host-local's leases and libcni's cached results of
#                                       network NAME removed (/var/lib/cni)
#   cri_wait_ready SOCKET PID LOG WHAT  waits (20 s) until crictl answers on SOCKET; dies
#                                       with LOG's tail if PID exits first
#   cri_stop_pid PID [SECONDS]          TERM, KILL after SECONDS (10); returns once PID is gone
#   cri_benchmark_params FILE PODS CONTAINERS IMAGES
#                                       critest's --benchmarking-params-file
#   cri_critest_spec_skip SPEC          a --ginkgo.skip regex leaving only SPEC of critest's
#                                       five benchmarks (pod, container, image, image-list,
#                                       scratch)

CRI_MIRRORED=(registry.k8s.io gcr.io public.ecr.aws)

cri_imageadm() { "$IMAGEADM" --root "$WORK/store" --config "$WORK/no-config.toml" --quiet "$@"; }

cri_images_prepare() {
	CRI_BASE=$REGISTRY/aurora-critest/busybox:base
	busybox_image_in_registry "$CRI_BASE" "$WORK"
	rm -rf "$WORK/build"
	cp -r "$AURORA_ROOT_DIR/tests/critest/images" "$WORK/build"
}

cri_build_push() {
	local context=$1 dests=() args=(--build-arg "BASE=$CRI_BASE") dest arg
	shift
	while (($#)) && [[ $1 != -- ]]; do dests+=("$1") && shift; done
	(($#)) && shift
	for arg in "$@"; do args+=(--build-arg "$arg"); done
	cri_imageadm build "${args[@]}" -t "$REGISTRY/${dests[0]}" "$WORK/build/$context" >/dev/null
	for dest in "${dests[@]}"; do
		[[ $dest == "${dests[0]}" ]] || cri_imageadm tag "$REGISTRY/${dests[0]}" "$REGISTRY/$dest"
		cri_imageadm push "$REGISTRY/$dest"
	done
	log "pushed ${dests[*]}"
}

cri_images() {
	local what=$1 k8s=e2e-test-images staging=k8s-staging-cri-tools n
	cri_images_prepare
	cri_build_push busybox "$k8s/busybox:1.29-2" \
		docker/library/busybox:1.35.0-glibc docker/library/busybox:1-uclibc docker/library/busybox:1 \
		docker/library/busybox:1-glibc docker/library/busybox:1-musl
	[[ $what == benchmark ]] && return 0
	[[ $what == all ]] || die "cri_images: all or benchmark, not '$what'"
	log "compiling nnp (static, setuid root in the image)"
	gcc -static -O2 -o "$WORK/build/nonewprivs/nnp" "$AURORA_ROOT_DIR/tests/critest/nnp/nnp.c"
	chmod 4755 "$WORK/build/nonewprivs/nnp"
	cri_build_push nginx "$k8s/nginx:1.14-2" -- PORT=80
	cri_build_push nginx "$staging/hostnet-nginx-amd64:latest" -- PORT=12003
	cri_build_push httpd "$k8s/httpd:2.4.39-4"
	cri_build_push nonewprivs "$k8s/nonewprivs:1.3"
	cri_build_push predefined-group "$staging/test-image-predefined-group:latest"
	cri_build_push manager "$staging/test-image-latest:latest" -- MARKER=latest
	cri_build_push manager "$staging/test-image-tag:test" "$staging/test-image-tag:all" -- MARKER=tag
	for n in 1 2 3; do
		cri_build_push manager "$staging/test-image-$n:latest" -- "MARKER=image-$n"
	done
	cri_build_push manager "$staging/test-image-tags:1" "$staging/test-image-tags:2" "$staging/test-image-tags:3" -- MARKER=tags
	cri_build_push user "$staging/test-image-user-uid:latest" -- IMAGE_USER=1002
	cri_build_push user "$staging/test-image-user-username:latest" -- IMAGE_USER=www-data
	cri_build_push user "$staging/test-image-user-uid-group:latest" -- IMAGE_USER=1003:1004
	cri_build_push user "$staging/test-image-user-username-group:latest" -- IMAGE_USER=www-data:1004
}

cri_aurora_config() {
	local file=$1 registry
	printf '# Written by %s: critest'"'"'s registries served by the loopback registry.\n' "${0##*/}" >"$file"
	for registry in "${CRI_MIRRORED[@]}"; do
		printf '\n[[registries.mirror]]\nregistry = "%s"\nendpoints = ["http://%s"]\n' "$registry" "$REGISTRY" >>"$file"
	done
}

cri_bridge_conflist() {
	local file=$1 name=$2 bridge=$3 subnet=$4
	mkdir -p "$(dirname "$file")"
	cat >"$file" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$name",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "$subnet" }]]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

cri_delete_bridge() {
	! ip link show "$1" >/dev/null 2>&1 || ip link del "$1"
}

cri_forget_network() {
	local name=$1
	[[ -n $name && $name != */* ]] || return 0
	rm -rf "/var/lib/cni/networks/$name"
	rm -f "/var/lib/cni/results/$name"-*
}

cri_wait_ready() {
	local socket=$1 pid=$2 logf=$3 what=$4 i
	for ((i = 0; i < 100; i++)); do
		[[ -S $socket ]] && "$TOOLS/crictl" --runtime-endpoint "unix://$socket" version >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || die "$what exited: $(tail -n 20 "$logf")"
		sleep 0.2
	done
	die "$what did not answer on $socket within 20 s: $(tail -n 20 "$logf")"
}

cri_stop_pid() {
	local pid=$1 tenths=$((${2:-10} * 10)) i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < tenths; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	warn "process $pid survived SIGKILL for 5 s"
}

cri_benchmark_params() {
	local file=$1 pods=$2 containers=$3 images=$4 tag
	{
		printf 'containersNumber: %s\ncontainersNumberParallel: 1\ncontainerBenchmarkTimeoutSeconds: 300\n' "$containers"
		printf 'podsNumber: %s\npodsNumberParallel: 1\npodBenchmarkTimeoutSeconds: 300\n' "$pods"
		printf 'imagesNumber: %s\nimagesNumberParallel: 1\nimageBenchmarkTimeoutSeconds: 300\n' "$images"
		printf 'podContainerStartBenchmarkTimeoutSeconds: 60\n'
		printf 'imagePullingBenchmarkImage: "public.ecr.aws/docker/library/busybox:1.35.0-glibc"\n'
		printf 'imageListingBenchmarkImages:\n'
		for tag in 1.35.0-glibc 1-uclibc 1 1-glibc 1-musl; do
			printf '  - "public.ecr.aws/docker/library/busybox:%s"\n' "$tag"
		done
	} >"$file"
}

# critest --benchmark focuses on "benchmark" itself, and a --ginkgo.focus of ours would only
# add specs (ginkgo ORs focuses); so one benchmark is chosen by skipping the four others.
cri_critest_spec_skip() {
	local -A leaf=(
		[pod]='lifecycle of PodSandbox'
		[container]='basic operations on Container'
		[image]='basic operations on Image'
		[image-list]='listing Image'
		[scratch]='start a container from scratch'
	)
	local key out=
	[[ -n ${leaf[$1]:-} ]] || die "unknown critest benchmark '$1'"
	for key in "${!leaf[@]}"; do
		[[ $key == "$1" ]] || out+="${out:+|}${leaf[$key]}"
	done
	echo "$out"
}
