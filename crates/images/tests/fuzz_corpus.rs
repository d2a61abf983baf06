//! The corpora of the fuzz targets `manifest`, `smartos` and `docker_archive` (seeds and past
//! failures), replayed through the same checks the fuzzer runs (fuzz/run.sh runs the fuzzer
//! itself).

use aurora_images::fuzzing::{check_docker_archive, check_manifest, check_smartos_manifest};
use aurora_spec::fuzzing::corpus;

#[test]
fn manifest_corpus_passes_the_fuzz_check() {
    let inputs = corpus("manifest");
    assert!(inputs.len() >= 5, "{} inputs", inputs.len());
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check_manifest(&bytes);
    }
}

#[test]
fn smartos_corpus_passes_the_fuzz_check() {
    let inputs = corpus("smartos");
    assert!(inputs.len() >= 3, "{} inputs", inputs.len());
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check_smartos_manifest(&bytes);
    }
}

#[test]
fn docker_archive_corpus_passes_the_fuzz_check() {
    let inputs = corpus("docker_archive");
    assert!(inputs.len() >= 3, "{} inputs", inputs.len());
    let scratch = tempfile::tempdir().unwrap();
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check_docker_archive(&bytes, &scratch.path().join("check"));
    }
}
