//! imgadm manifests, as an import-smartos reads them.
fn main() {
    afl::fuzz!(|data: &[u8]| aurora_smartos::fuzzing::check_smartos_manifest(data));
}
