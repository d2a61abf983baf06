//! One conformance suite for every storage driver, as containerd runs one snapshotter test
//! suite against every snapshotter: a driver is correct when these scenarios pass, not when
//! its own hand-written tests do. Each scenario is written once (`scenarios`) over a
//! `harness::Harness`, and instantiated here for every driver by a macro, so that each
//! driver × scenario is a test of its own, named `DRIVER::SCENARIO` (`cargo test -p
//! aurora-storage --test conformance zfs_fake::`).
//!
//! A macro in the tests, rather than a `pub fn` suite behind a feature of the crate: the suite
//! needs testkit's real storage (zfs-fuse pools, btrfs loop volumes), which the library must
//! not depend on, and per-test names show which driver failed which scenario.
//!
//! Drivers: `dir` (a temporary directory), `overlay` (root), `btrfs` (testkit's
//! `BtrfsVolume`), `zfs` (testkit's `ZfsPool` on zfs-fuse; one pool at a time on the machine,
//! so those tests queue) and `zfs_fake` (the zfs driver over testkit's `FakeZfs`). What only
//! one driver does stays in its own file (`btrfs.rs`, `overlay.rs`, `zfs.rs`).
#![cfg(target_os = "linux")]

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod scenarios;

/// Instantiates every scenario for one driver: `suite!(module_name, HarnessType);`.
macro_rules! suite {
    ($driver:ident, $harness:ty) => {
        mod $driver {
            use crate::scenarios;
            suite!(@tests $harness, $driver,
                a_chain_of_layers_makes_containers_of_the_whole_tree,
                two_chains_share_their_base_layer,
                concurrent_commits_of_one_layer_leave_one_layer,
                a_second_commit_of_a_layer_keeps_the_first,
                a_killed_builder_leaves_nothing_a_later_commit_trips_over,
                aborted_and_dropped_pending_layers_leave_nothing,
                a_layer_in_use_goes_only_where_nothing_depends_on_it,
                container_names_are_checked_and_claimed_once,
                container_changes_name_the_top_layer_and_where_to_read_them,
                a_container_adopted_as_a_layer_keeps_its_tree,
            );
        }
    };
    (@tests $harness:ty, $driver:ident, $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                scenarios::$scenario::<$harness>(concat!(
                    stringify!($driver),
                    "::",
                    stringify!($scenario)
                ));
            }
        )*
    };
}

suite!(dir, crate::harness::Dir);
suite!(overlay, crate::harness::Overlay);
suite!(btrfs, crate::harness::Btrfs);
suite!(zfs, crate::harness::Zfs);
suite!(zfs_fake, crate::harness::FakeZfsPool);

/// Not a test on its own: the builder process that
/// `a_killed_builder_leaves_nothing_a_later_commit_trips_over` starts and kills.
#[test]
#[ignore = "helper process for a_killed_builder_leaves_nothing_a_later_commit_trips_over"]
fn builder_to_be_killed() {
    let spec = std::env::var("AURORA_STORAGE_BUILDER").expect("run by the killed-builder test");
    let (kind, spec) = spec.split_once('\n').expect("KIND\nSPEC");
    scenarios::build_until_killed(kind, spec);
}
