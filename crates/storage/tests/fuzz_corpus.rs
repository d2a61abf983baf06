//! The fuzz target `zfs_stream`'s corpus (seeds and past failures), replayed through the same
//! check the fuzzer runs (fuzz/run.sh runs the fuzzer itself).

use aurora_spec::fuzzing::replay;
use aurora_storage::fuzzing::check_stream_header;

#[test]
fn zfs_stream_corpus_passes_the_fuzz_check() {
    replay("zfs_stream", 5, check_stream_header);
}
