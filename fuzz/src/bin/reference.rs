//! Image references and digests, as users, archives and registries write them.
fn main() {
    afl::fuzz!(|data: &[u8]| aurora_spec::fuzzing::check_reference(data));
}
