//! The fuzz target `zfs_stream`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_spec::fuzzing::corpus;
use aurora_storage::fuzzing::check_stream_header;

#[test]
fn zfs_stream_corpus_passes_the_fuzz_check() {
    let inputs = corpus("zfs_stream");
    assert!(inputs.len() >= 5, "{} inputs", inputs.len());
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check_stream_header(&bytes);
    }
}
