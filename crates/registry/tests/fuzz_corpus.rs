//! The fuzz target `challenge`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_registry::fuzzing::check_challenge;
use aurora_spec::fuzzing::corpus;

#[test]
fn challenge_corpus_passes_the_fuzz_check() {
    let inputs = corpus("challenge");
    assert!(inputs.len() >= 5, "{} inputs", inputs.len());
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check_challenge(&bytes);
    }
}
