//! The fuzz target `zonecfg`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_spec::fuzzing::corpus;
use aurora_zones::fuzzing::check_config;

#[test]
fn zonecfg_corpus_passes_the_fuzz_check() {
    let inputs = corpus("zonecfg");
    assert!(inputs.len() >= 5, "{} inputs", inputs.len());
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check_config(&bytes);
    }
}
