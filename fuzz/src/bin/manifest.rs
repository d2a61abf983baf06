//! Manifests, indexes and image configs, as a registry or a layout could hold them.
fn main() {
    afl::fuzz!(|data: &[u8]| aurora_transfer::fuzzing::check_manifest(data));
}
