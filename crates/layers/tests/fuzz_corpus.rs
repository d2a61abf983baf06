//! The fuzz target `layer`'s corpus (seeds and past failures), replayed through the same check
//! the fuzzer runs: each blob applied beside a canary, which must not change. fuzz/run.sh
//! runs the fuzzer itself, in a chroot; here the jail is a temporary directory.
#![cfg(target_os = "linux")]

use aurora_layers::fuzzing::Jail;
use aurora_spec::fuzzing::replay;

#[test]
fn layer_corpus_leaves_the_canary_alone() {
    let dir = tempfile::tempdir().unwrap();
    let privileged = rustix::process::geteuid().is_root();
    let jail = Jail::new(dir.path(), privileged).unwrap();
    replay("layer", 8, |bytes| jail.check(bytes));
}
