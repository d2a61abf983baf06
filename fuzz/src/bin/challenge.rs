//! `WWW-Authenticate` header values, as a registry or a proxy could send them.
fn main() {
    afl::fuzz!(|data: &[u8]| aurora_registry::fuzzing::check_challenge(data));
}
