//! imgadm manifests, as an import-smartos reads them.
fn main() {
    afl::fuzz!(|data: &[u8]| aurora_images::fuzzing::check_smartos_manifest(data));
}
