//! The fuzz target `challenge`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_registry::fuzzing::check_challenge;
use aurora_spec::fuzzing::replay;

#[test]
fn challenge_corpus_passes_the_fuzz_check() {
    replay("challenge", 5, check_challenge);
}
