//! The shortest path a user takes: pull from a registry, read the store back with skopeo.

mod common;

use aurora_testkit::{require_tools, PushOpts, Registry};
use common::World;

#[test]
fn pull_then_skopeo_reads_the_store() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let built = common::push_image(&registry, "team/app:1", 2, &PushOpts::default());
    let world = World::new();
    let reference = registry.image_ref("team/app:1");
    let pulled = world.ok(&["--format", "json", "pull", &reference]).json();
    assert_eq!(pulled["digest"], built.manifest_digest);
    assert_eq!(pulled["name"], reference);
    let raw = common::skopeo_inspect_store(&world.root(), &reference);
    assert_eq!(raw, built.manifest);
}
