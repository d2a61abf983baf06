# shellcheck shell=bash
#
# scripts/images.sh - the OCI images the demo and the benchmarks use, built with umoci and
# pushed with skopeo. Sourced by scripts/lib.sh (which defines log, die, on_exit, mib).
#
#   oci_new / oci_layer / oci_config / oci_manifest / oci_push
#                                       build OCI image layouts with umoci, push with skopeo
#   remote_manifest REF                 manifest of REF in an HTTP registry (via skopeo)
#   bench_image_build / bench_image_ensure DIR REF
#                                       the benchmarks' >= 300 MB image, built once, pushed
#   build_demo_image REF [WORKDIR]      the demo's small busybox image, pushed to REF
#   build_busybox_image REF [WORKDIR]   one layer of busybox with every applet linked, pushed to REF

# ---------------------------------------------------------------------------
# OCI image layouts, built with umoci the standard way: unpack the image into
# a bundle, change BUNDLE/rootfs, repack. Each oci_layer call = one new layer
# (repack --refresh-bundle re-bases the bundle, so the next call only captures
# what changed since). `umoci insert` would skip the unpack, but umoci 0.4.7's
# insert writes tar streams without the end-of-archive footer (umoci#436,
# fixed upstream in #534), which GNU tar and Python's tarfile reject.
#
#   oci_new L T B; cp ... "$B/rootfs/"; oci_layer L T B "what"; oci_config L T ...

_umoci_rootless() { ((EUID == 0)) || echo --rootless; }

# oci_new LAYOUT TAG BUNDLE: create the layout if needed, an empty image
# LAYOUT:TAG, and unpack it into BUNDLE (which must not exist yet).
oci_new() {
	[[ -f $1/oci-layout ]] || umoci init --layout "$1"
	umoci new --image "$1:$2"
	# shellcheck disable=SC2046 # _umoci_rootless prints zero or one word
	umoci unpack $(_umoci_rootless) --image "$1:$2" "$3" >/dev/null
}

# oci_layer LAYOUT TAG BUNDLE DESCRIPTION: commit what changed in
# BUNDLE/rootfs since the last oci_new/oci_layer as one new gzip layer.
oci_layer() {
	umoci repack --refresh-bundle --history.created_by "$4" --image "$1:$2" "$3"
}

# oci_config LAYOUT TAG UMOCI_CONFIG_ARGS...: e.g. oci_config L T --config.cmd /bin/sh
oci_config() {
	local layout=$1 tag=$2
	shift 2
	umoci config --image "$layout:$tag" "$@"
}

# oci_manifest LAYOUT TAG: print the image manifest JSON for LAYOUT:TAG.
oci_manifest() {
	local digest
	digest=$(jq -er --arg t "$2" \
		'[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)][0].digest' \
		"$1/index.json") || die "no tag '$2' in $1/index.json"
	cat "$1/blobs/${digest/://}"
}

# oci_push LAYOUT TAG HOST:PORT/REPO:TAG: push to a plain-HTTP registry.
oci_push() {
	skopeo copy --quiet --dest-tls-verify=false "oci:$1:$2" "docker://$3"
}

# remote_manifest HOST:PORT/REPO:TAG: print the manifest from a plain-HTTP registry.
remote_manifest() {
	skopeo inspect --raw --tls-verify=false "docker://$1"
}


# ---------------------------------------------------------------------------
# Test images: the benchmark's big image and the demo's small busybox image.

AURORA_BENCH_TAG=big                               # tag of the big image in DIR/layout
AURORA_BENCH_MIN_COMPRESSED=$((300 * 1000 * 1000)) # bytes, sum of its compressed layers

# bench_image_build DIR: build the benchmark image as DIR/layout:big (atomically:
# DIR/layout only appears once complete) and write DIR/build.json. >= 300 MB
# compressed in >= 3 gzip layers from host files (/usr/lib/<multiarch>,
# /usr/share, /usr/bin, plus a random-data layer only if those fall short).
# About 1.5 minutes on a 2-core VM (copy + gzip).
bench_image_build() {
	local dir=$1 tag=$AURORA_BENCH_TAG
	local out=$dir/layout tmp=$dir/layout.partial bundle=$dir/bundle.partial
	local multiarch src total deficit started=$SECONDS i=0
	rm -rf "$tmp" "$bundle"
	on_exit rm -rf "$tmp" "$bundle"
	multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")

	log "building the benchmark image in $tmp (one gzip layer per directory; takes minutes)"
	oci_new "$tmp" "$tag" "$bundle"
	for src in "/usr/lib/$multiarch" /usr/share /usr/bin; do
		[[ -d $src ]] || die "$src does not exist on this host"
		i=$((i + 1))
		log "layer $i: $src ($(du -sh "$src" | cut -f1) uncompressed)"
		# Relative source: coreutils 9.1's cp --parents fails on absolute ones.
		(cd / && cp -a --parents "${src#/}" "$bundle/rootfs/")
		oci_layer "$tmp" "$tag" "$bundle" "copy host $src"
	done
	total=$(oci_manifest "$tmp" "$tag" | jq '[.layers[].size] | add')
	if ((total < AURORA_BENCH_MIN_COMPRESSED)); then
		# Host directories compress too well here; top up with incompressible data.
		deficit=$((AURORA_BENCH_MIN_COMPRESSED - total + 1000000))
		log "layer $((i + 1)): $(mib "$deficit") MiB of random data (host files gave only $(mib "$total") MiB)"
		mkdir -p "$bundle/rootfs/opt/bench"
		head -c "$deficit" /dev/urandom >"$bundle/rootfs/opt/bench/filler.bin"
		oci_layer "$tmp" "$tag" "$bundle" "random filler to reach 300 MB"
	fi
	oci_config "$tmp" "$tag" --config.cmd /usr/bin/sh --config.label org.opencontainers.image.title=aurora-bench-big
	rm -rf "$bundle" "$out"
	mv "$tmp" "$out"

	oci_manifest "$out" "$tag" | jq -c --argjson s "$((SECONDS - started))" \
		'{build_seconds: $s, layers: (.layers | length), compressed_bytes: ([.layers[].size] | add)}' \
		>"$dir/build.json"
	log "image built in $((SECONDS - started))s: $(jq -r '"\(.layers) layers, \(.compressed_bytes) bytes compressed"' "$dir/build.json")"
}

# bench_image_ensure DIR HOST:PORT/REPO:TAG: make sure the benchmark image is in
# the registry as REF; pushes DIR/layout (built by bench_image_build unless
# DIR/layout and DIR/build.json are there already) when it is not.
bench_image_ensure() {
	local dir=$1 ref=$2 started
	if remote_manifest "$ref" >/dev/null 2>&1; then
		log "$ref already in the registry"
		return 0
	fi
	if [[ ! -f $dir/build.json || ! -f $dir/layout/index.json ]]; then
		bench_image_build "$dir"
	else
		log "using cached image layout $dir/layout"
	fi
	log "pushing to $ref"
	started=$SECONDS
	oci_push "$dir/layout" "$AURORA_BENCH_TAG" "$ref"
	log "pushed in $((SECONDS - started))s"
}

# build_demo_image REF [WORKDIR]: the demo's 2-layer image (static busybox +
# applet symlinks; /etc/passwd, /etc/group, /root, /tmp), Cmd ["/bin/sh"], built
# with umoci in a temporary directory under WORKDIR (default $TMPDIR or /var/tmp)
# and pushed to REF in a plain-HTTP registry. Needs /bin/busybox (busybox-static).
build_demo_image() {
	local work rootfs applet
	[[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install -y busybox-static)"
	work=$(mktemp -d "${2:-${TMPDIR:-/var/tmp}}/build.XXXXXX")
	on_exit rm -rf "$work"
	oci_new "$work/layout" demo "$work/bundle"
	rootfs=$work/bundle/rootfs

	mkdir -p "$rootfs/bin"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in sh ls cat echo env id ps mkdir rm uname wget vi sleep wc; do
		ln -s busybox "$rootfs/bin/$applet"
	done
	oci_layer "$work/layout" demo "$work/bundle" "static busybox and applet links in /bin"

	mkdir -p "$rootfs/etc" "$rootfs/root" "$rootfs/tmp"
	chmod 1777 "$rootfs/tmp"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"
	oci_layer "$work/layout" demo "$work/bundle" "/etc/passwd, /etc/group, /root, /tmp"

	oci_config "$work/layout" demo --config.cmd /bin/sh --config.env PATH=/bin \
		--history.created_by 'CMD ["/bin/sh"]'
	oci_push "$work/layout" demo "$1"
	rm -rf "$work"
}

# build_busybox_image REF [WORKDIR]: a one-layer image of the static busybox with a link in
# /bin for every applet (sleep, seq, httpd, true, ...), /etc/passwd and /etc/group, Cmd
# ["/bin/sh"]; for the podadm benchmark, which runs what podman runs.
build_busybox_image() {
	local work rootfs applet
	[[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install -y busybox-static)"
	work=$(mktemp -d "${2:-${TMPDIR:-/var/tmp}}/build.XXXXXX")
	on_exit rm -rf "$work"
	oci_new "$work/layout" bb "$work/bundle"
	rootfs=$work/bundle/rootfs
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/tmp"
	chmod 1777 "$rootfs/tmp"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"
	oci_layer "$work/layout" bb "$work/bundle" "static busybox, every applet"
	oci_config "$work/layout" bb --config.cmd /bin/sh --config.env PATH=/bin \
		--history.created_by 'CMD ["/bin/sh"]'
	oci_push "$work/layout" bb "$1"
	rm -rf "$work"
}

# busybox_image_in_registry IMAGE WORKDIR: the benchmarks' loopback registry up (on
# 127.0.0.1:$PORT, its data in $BENCH_DIR/registry; stopped at exit if started here) with
# IMAGE in it, built by build_busybox_image when missing.
busybox_image_in_registry() {
	local -A registry_facts=()
	testenv_up registry_facts registry "$BENCH_DIR/registry" --port "$PORT"
	if remote_manifest "$1" >/dev/null 2>&1; then
		log "$1 already in the registry"
	else
		log "building the benchmark's busybox image and pushing it to $1"
		build_busybox_image "$1" "$2"
	fi
}
