//! The fuzz target `reference`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_spec::fuzzing::{check_reference, replay};

#[test]
fn reference_corpus_passes_the_fuzz_check() {
    replay("reference", 10, check_reference);
}
