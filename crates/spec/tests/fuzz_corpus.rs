//! The fuzz target `reference`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_spec::fuzzing::{check_reference, corpus};

#[test]
fn reference_corpus_passes_the_fuzz_check() {
    let inputs = corpus("reference");
    assert!(inputs.len() >= 10, "{} inputs", inputs.len());
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check_reference(&bytes);
    }
}
