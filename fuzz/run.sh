#!/usr/bin/env bash
# fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...] - builds the fuzz targets with AFL++'s
# instrumentation (the afl crate, on stable Rust) and runs each one, one after the other, for
# SECONDS_PER_TARGET seconds (default 60) from its committed corpus (fuzz/corpus/TARGET).
# No terminal is needed. Prints, per target, the executions, the inputs that failed
# (crashes: a panic, an escape from a layer's root) and the hangs; exits 1 if anything
# failed, keeping those inputs under $AURORA_FUZZ_FINDINGS (default /tmp/aurora-fuzz-findings).
# Everything else it writes (AFL's queue, the targets' scratch) is under one temporary
# directory that is removed at the end; the layer target (root only) works in a 64 MiB tmpfs
# of its own.
#
# A failing input replays without AFL: TARGET_DIR/release/TARGET < INPUT. Minimise it with
# `cargo afl tmin -i INPUT -o SMALL -- TARGET_DIR/release/TARGET`, then add it to
# fuzz/corpus/TARGET/ and as a regression test in the crate's tests.
#
# Targets: reference (image references, digests), challenge (WWW-Authenticate), manifest
# (manifests, indexes, configs), smartos (imgadm manifests), docker_archive (docker save
# archives), zonecfg (config.json to zonecfg and zlogin), layer (layer blobs beside a canary).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

ALL_TARGETS=(reference challenge manifest smartos docker_archive zonecfg zfs_stream layer)
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL_TARGETS[@]}")
FINDINGS=${AURORA_FUZZ_FINDINGS:-/tmp/aurora-fuzz-findings}
# Instrumented builds share nothing with ordinary ones: they get a target directory of their own.
export CARGO_TARGET_DIR=${AURORA_FUZZ_TARGET_DIR:-/tmp/aurora-fuzz-target}

if ! command -v cargo-afl >/dev/null; then
    cargo install --locked cargo-afl
fi
# Builds AFL++ for this rustc once; says so (and fails) when it already has.
cargo afl config --build >/dev/null 2>&1 || true
cargo afl build --release --bins >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aurora-fuzz.XXXXXX")
# The targets' own scratch (a layout per docker archive, fsynced) goes to a RAM disk when
# there is one: fsync there costs nothing, and each run removes its scratch before the next.
SCRATCH=$WORK
if [[ -d /dev/shm && -w /dev/shm ]]; then
    SCRATCH=$(mktemp -d /dev/shm/aurora-fuzz.XXXXXX)
fi
trap 'rm -rf "$WORK" "$SCRATCH"' EXIT

stat_of() { sed -n "s/^$2 *: *//p" "$1/default/fuzzer_stats"; }

failed=0
for target in "${TARGETS[@]}"; do
    [[ -d corpus/$target ]] || { echo "$target: no such target (${ALL_TARGETS[*]})" >&2; exit 2; }
    if [[ $target == layer && $(id -u) != 0 ]]; then
        # Without its jail (a mount namespace, a bounded tmpfs) a decompression bomb could
        # fill the disk; the corpus is still replayed by aurora-layers' tests.
        echo "layer: skipped, needs root" >&2
        continue
    fi
    out=$WORK/out-$target
    mkdir -p "$SCRATCH/tmp-$target"
    # AFL_NO_AFFINITY: the machine's cores are shared; AFL_SKIP_CPUFREQ and
    # AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES: runs where the host's settings cannot be changed.
    if ! AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 \
        AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 TMPDIR="$SCRATCH/tmp-$target" \
        cargo afl fuzz -i "corpus/$target" -o "$out" -V "$SECONDS_PER_TARGET" -t 5000 \
        "$CARGO_TARGET_DIR/release/$target" >"$WORK/$target.log" 2>&1; then
        echo "$target: afl-fuzz failed; its last lines:" >&2
        tail -20 "$WORK/$target.log" >&2
        failed=1
        continue
    fi
    execs=$(stat_of "$out" execs_done)
    crashes=$(stat_of "$out" saved_crashes)
    hangs=$(stat_of "$out" saved_hangs)
    printf '%-15s %10s executions  %3s crashes  %3s hangs  corpus %s  coverage %s\n' \
        "$target" "$execs" "$crashes" "$hangs" "$(stat_of "$out" corpus_count)" \
        "$(stat_of "$out" bitmap_cvg)"
    if [[ $crashes != 0 || $hangs != 0 ]]; then
        mkdir -p "$FINDINGS/$target"
        cp "$out"/default/crashes/id* "$out"/default/hangs/id* "$FINDINGS/$target/" 2>/dev/null || true
        echo "  inputs kept in $FINDINGS/$target" >&2
    fi
    [[ $crashes == 0 ]] || failed=1
    rm -rf "$out" "$SCRATCH/tmp-$target"
done
exit "$failed"
