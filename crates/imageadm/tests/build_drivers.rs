//! `imageadm build` on every storage driver: the same Containerfile (RUN that adds, changes
//! and deletes files of the base, COPY, a second stage copying from the first) built on dir,
//! btrfs and zfs gives the tree it gives on overlay, and a second build is all cache hits.
//!
//! Needs root; btrfs and zfs need their tools: skipped otherwise through
//! `aurora_testkit::skip` (a failure when the run requires every test).

mod common;

use std::path::Path;

use aurora_testkit::tree::{diff, Tree};
use aurora_testkit::{BtrfsVolume, ZfsPool};
use common::build::{context, imageadm_build_with, setup};
use common::World;

fn containerfile(base: &str) -> String {
    format!(
        "FROM {base} AS first\n\
         RUN mkdir -p /data/keep /data/gone && echo a > /data/keep/a && echo b > /data/gone/b\n\
         RUN rm -r /data/gone && echo changed > /data/keep/a && rm /etc/group && ln -s a /data/keep/link\n\
         COPY files/ /srv/\n\
         FROM {base}\n\
         COPY --from=first /data /data\n\
         COPY --from=first /srv/x.txt /srv/x.txt\n\
         RUN echo done > /done\n"
    )
}

/// The tree the build makes with `flags` in `world`, and whether a second build hit the cache
/// at every step.
fn build(world: &World, flags: &[&str], context: &Path) -> (Tree, bool) {
    let (tree, _, _, _) = imageadm_build_with(world, flags, context, &[]);
    let again = imageadm_build_with(world, flags, context, &[]);
    let all_cached = again.3["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["instruction"].as_str().unwrap().starts_with("FROM"))
        .all(|s| s["cached"].as_bool().unwrap());
    (tree, all_cached)
}

fn check(name: &str, world: World, flags: &[&str]) {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path(), &containerfile(&base), &[("files/x.txt", "x\n")]);
    let (tree, cached) = build(&world, flags, &context);
    let reference = World::new();
    let (expected, _) = build(&reference, &["--storage", "overlay"], &context);
    if let Some(d) = diff(name, &tree, "overlay", &expected) {
        panic!("the {name} build differs from overlay's:\n{d}");
    }
    assert!(cached, "the second {name} build missed the cache");
    assert!(!tree.contains_key("data/gone"));
    assert_eq!(tree["data/keep/a"].content.as_deref(), Some("changed\n"));
}

#[test]
fn builds_on_dir_match_overlay() {
    check("dir", World::new(), &["--storage", "dir"]);
}

#[test]
fn builds_on_btrfs_match_overlay() {
    let Some(volume) = BtrfsVolume::create_or_skip("builds_on_btrfs_match_overlay") else {
        return;
    };
    check("btrfs", World::with_root(volume.path().join("store")), &[]);
}

#[test]
fn builds_on_zfs_match_overlay() {
    let Some(pool) = ZfsPool::create_or_skip("builds_on_zfs_match_overlay") else {
        return;
    };
    check("zfs", World::with_root(pool.mountpoint()), &[]);
}
