//! podadm: podman's command line over Aurora's engine.

fn main() {}
