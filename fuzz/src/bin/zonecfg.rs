//! config.json → zone plan → zonecfg command file and zlogin script.
fn main() {
    afl::fuzz!(|data: &[u8]| aurora_zones::fuzzing::check_config(data));
}
