//! The fuzz target `zonecfg`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_spec::fuzzing::replay;
use aurora_zones::fuzzing::check_config;

#[test]
fn zonecfg_corpus_passes_the_fuzz_check() {
    replay("zonecfg", 5, check_config);
}
