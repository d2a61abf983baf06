//! docker archives (`docker save`), or their manifest.json, as a copy reads them.
fn main() {
    // Each run works in its own directory, removed and remade by the check; run.sh points
    // TMPDIR at a bounded place.
    let scratch = std::env::temp_dir().join(format!("aurora-fuzz-archive-{}", std::process::id()));
    afl::fuzz!(|data: &[u8]| {
        aurora_transfer::fuzzing::check_docker_archive(data, &scratch);
    });
    let _ = std::fs::remove_dir_all(&scratch);
}
