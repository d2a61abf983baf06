//! The corpus of the fuzz target `smartos` (seeds and past failures), replayed through the
//! same check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_smartos::fuzzing::check_smartos_manifest;
use aurora_spec::fuzzing::replay;

#[test]
fn smartos_corpus_passes_the_fuzz_check() {
    replay("smartos", 3, check_smartos_manifest);
}
