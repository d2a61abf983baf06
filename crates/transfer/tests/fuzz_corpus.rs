//! The corpora of the fuzz targets `manifest` and `docker_archive` (seeds and past
//! failures), replayed through the same checks the fuzzer runs (fuzz/run.sh runs the fuzzer
//! itself).

use aurora_spec::fuzzing::replay;
use aurora_transfer::fuzzing::{check_docker_archive, check_manifest};

#[test]
fn manifest_corpus_passes_the_fuzz_check() {
    replay("manifest", 5, check_manifest);
}

#[test]
fn docker_archive_corpus_passes_the_fuzz_check() {
    let scratch = tempfile::tempdir().unwrap();
    replay("docker_archive", 3, |bytes| {
        check_docker_archive(bytes, &scratch.path().join("check"))
    });
}
