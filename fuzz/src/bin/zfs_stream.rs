//! The first bytes of a `zfs send` stream, as a SmartOS image file carries it.
fn main() {
    afl::fuzz!(|data: &[u8]| aurora_storage::fuzzing::check_stream_header(data));
}
