//! The scenarios every driver must pass, written once over [`Harness`]. Where drivers differ
//! by design (the form a diff takes, whether a layer depends on its parent), the scenario
//! asks the driver and checks the behaviour that form promises.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Barrier};

use aurora_storage::{
    ContainerChanges, DatasetKind, DiffForm, Driver, DriverKind, LayerId, StorageError,
};

use crate::common::{
    clean_leftovers_eventually, ensure_layer, expect, names_in, start_builder, tree, write,
};
use crate::harness::Harness;

/// Layer `n`, a SHA-256 like a real chain ID.
pub fn id(n: u16) -> LayerId {
    crate::common::hashed_id(n)
}

/// The layers of the chain scenario, base first.
pub fn chain_ids() -> [LayerId; 3] {
    [id(1), id(2), id(3)]
}

/// Whether a layer cannot go while layers or containers are made from it: zfs clones need
/// their origin snapshot, overlay mounts need every lower directory; btrfs snapshots and dir
/// copies own their data.
fn layers_hold_their_parents(kind: DriverKind) -> bool {
    matches!(kind, DriverKind::Zfs | DriverKind::Overlay)
}

/// What must hold after every scenario: nothing pending, the driver's own invariants.
#[track_caller]
fn settled(h: &impl Harness) {
    assert!(h.pending().is_empty(), "{:?}", h.pending());
    h.check_invariants();
}

/// Checks that a call on a layer that does not exist was refused as such.
#[track_caller]
fn refused_as_missing<T: std::fmt::Debug>(result: aurora_storage::Result<T>) {
    assert!(
        matches!(result, Err(StorageError::NoSuchLayer(_))),
        "expected NoSuchLayer, got {result:?}"
    );
}

/// Deletes `path` in a pending layer as the layer applier would: from the tree for
/// full-tree drivers, with a whiteout (a 0:0 character device) for overlay.
fn delete_in_layer(driver: &dyn Driver, root: &Path, path: &str) {
    let path = root.join(path);
    match driver.diff_form() {
        DiffForm::FullTree => fs::remove_file(&path).unwrap(),
        DiffForm::OverlayUpper => {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .unwrap();
        }
    }
}

/// Replaces directory `path` with an empty one: removed and made again, or an opaque
/// directory for overlay (nothing below it in lower layers shows through).
fn replace_dir_in_layer(driver: &dyn Driver, root: &Path, path: &str) {
    let path = root.join(path);
    if driver.diff_form() == DiffForm::FullTree {
        fs::remove_dir_all(&path).unwrap();
    }
    fs::create_dir_all(&path).unwrap();
    if driver.diff_form() == DiffForm::OverlayUpper {
        rustix::fs::setxattr(
            &path,
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    }
}

/// Layers 1 to 3: layer 3 deletes a file of layer 1 and replaces a directory of it.
fn build_chain(h: &impl Harness) {
    let driver = h.driver();
    let [one, two, three] = chain_ids();
    ensure_layer(
        driver,
        &one,
        None,
        &[
            ("etc/os-release", "base"),
            ("etc/keep", "k"),
            ("bin/tool", "tool v1"),
            ("var/lib/data/a", "a"),
            ("var/lib/data/b", "b"),
            ("removed.txt", "gone soon"),
        ],
    );
    ensure_layer(
        driver,
        &two,
        Some(&one),
        &[("bin/tool", "tool v2"), ("usr/new", "new")],
    );
    let pending = driver.begin_layer(&three, Some(&two)).unwrap();
    match driver.diff_form() {
        // A layer sees its parent's tree and deletes from it.
        DiffForm::FullTree => assert_eq!(tree(&pending.root), chain_tree_of_two()),
        DiffForm::OverlayUpper => assert!(names_in(&pending.root).is_empty(), "starts empty"),
    }
    delete_in_layer(driver, &pending.root, "removed.txt");
    replace_dir_in_layer(driver, &pending.root, "var/lib/data");
    write(&pending.root.join("var/lib/data/c"), "c");
    driver.commit_layer(pending).unwrap();
}

fn chain_tree_of_two() -> BTreeMap<String, String> {
    expect(&[
        ("bin", "dir"),
        ("bin/tool", "file tool v2"),
        ("etc", "dir"),
        ("etc/keep", "file k"),
        ("etc/os-release", "file base"),
        ("removed.txt", "file gone soon"),
        ("usr", "dir"),
        ("usr/new", "file new"),
        ("var", "dir"),
        ("var/lib", "dir"),
        ("var/lib/data", "dir"),
        ("var/lib/data/a", "file a"),
        ("var/lib/data/b", "file b"),
    ])
}

/// What layer 3 makes of the first two: `removed.txt` deleted, `var/lib/data` replaced.
fn chain_tree() -> BTreeMap<String, String> {
    let mut tree = chain_tree_of_two();
    for gone in ["removed.txt", "var/lib/data/a", "var/lib/data/b"] {
        tree.remove(gone);
    }
    tree.insert("var/lib/data/c".into(), "file c".into());
    tree
}

pub fn a_chain_of_layers_makes_containers_of_the_whole_tree<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    build_chain(&h);
    let [one, two, three] = chain_ids();
    let layers: Vec<_> = chain_ids()
        .iter()
        .map(|id| tree(&h.layer_tree(id)))
        .collect();
    if driver.diff_form() == DiffForm::OverlayUpper {
        let own = expect(&[
            ("bin", "dir"),
            ("bin/tool", "file tool v2"),
            ("usr", "dir"),
            ("usr/new", "file new"),
        ]);
        assert_eq!(layers[1], own, "a layer holds only its own changes");
    } else {
        assert_eq!(layers[2], chain_tree(), "a layer holds the whole tree");
    }

    let rootfs = driver.create_container("c1", &three).unwrap();
    assert_eq!(rootfs, h.expected_rootfs("c1"));
    assert_eq!(driver.container_rootfs("c1").unwrap(), rootfs);
    assert_eq!(tree(&rootfs), chain_tree());

    // Writes in the container stay there.
    fs::write(rootfs.join("bin/tool"), "changed").unwrap();
    fs::remove_file(rootfs.join("etc/keep")).unwrap();
    fs::remove_dir_all(rootfs.join("var")).unwrap();
    write(&rootfs.join("var/lib/data/a"), "back");
    for (id, before) in chain_ids().iter().zip(&layers) {
        assert_eq!(
            &tree(&h.layer_tree(id)),
            before,
            "layer {id} stays as committed"
        );
    }
    let other = driver.create_container("c2", &three).unwrap();
    assert_eq!(tree(&other), chain_tree());

    let listed = driver.list().unwrap();
    let summary: Vec<_> = listed
        .iter()
        .map(|d| (d.name.clone(), d.kind, d.parent.clone()))
        .collect();
    let mut expected = vec![
        (one.to_string(), DatasetKind::Layer, None),
        (two.to_string(), DatasetKind::Layer, Some(one.clone())),
        (three.to_string(), DatasetKind::Layer, Some(two.clone())),
        (
            "c1".to_string(),
            DatasetKind::Container,
            Some(three.clone()),
        ),
        (
            "c2".to_string(),
            DatasetKind::Container,
            Some(three.clone()),
        ),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(summary, expected, "sorted by name, with their parents");
    h.check_chain_sizes(&listed);
    assert!(h.pending().is_empty(), "{:?}", h.pending());
    h.check_invariants();

    driver.remove_container("c1").unwrap();
    assert!(!rootfs.exists(), "{}", rootfs.display());
    assert!(matches!(
        driver.container_rootfs("c1"),
        Err(StorageError::NoSuchContainer(_))
    ));
    assert!(matches!(
        driver.remove_container("c1"),
        Err(StorageError::NoSuchContainer(_))
    ));
    settled(&h);
}

pub fn two_chains_share_their_base_layer<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    let base = [("etc/os-release", "base")];
    assert!(ensure_layer(driver, &id(1), None, &base));
    assert!(ensure_layer(driver, &id(2), Some(&id(1)), &[("a", "a")]));
    let identity = h.layer_identity(&id(1));
    assert!(
        !ensure_layer(driver, &id(1), None, &[("etc/os-release", "other")]),
        "the base exists: the second image does not build it"
    );
    assert!(ensure_layer(driver, &id(3), Some(&id(1)), &[("b", "b")]));
    assert_eq!(
        h.layer_identity(&id(1)),
        identity,
        "the base is the same one"
    );

    let a = driver.create_container("a", &id(2)).unwrap();
    let b = driver.create_container("b", &id(3)).unwrap();
    for rootfs in [&a, &b] {
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/os-release")).unwrap(),
            "base"
        );
    }
    assert!(a.join("a").exists() && !a.join("b").exists());
    assert!(b.join("b").exists() && !b.join("a").exists());
    let mut layers: Vec<_> = driver
        .list()
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == DatasetKind::Layer)
        .map(|d| (d.name, d.parent))
        .collect();
    layers.sort();
    let mut expected = vec![
        (id(1).to_string(), None),
        (id(2).to_string(), Some(id(1))),
        (id(3).to_string(), Some(id(1))),
    ];
    expected.sort();
    assert_eq!(layers, expected);
    h.check_invariants();
}

pub fn concurrent_commits_of_one_layer_leave_one_layer<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    ensure_layer(h.driver(), &id(1), None, &[("base", "base")]);
    let h = Arc::new(h);
    const BUILDERS: usize = 4;
    let barrier = Arc::new(Barrier::new(BUILDERS));
    let builders: Vec<_> = (0..BUILDERS)
        .map(|n| {
            let (h, barrier) = (Arc::clone(&h), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let pending = h.driver().begin_layer(&id(2), Some(&id(1))).unwrap();
                fs::write(pending.root.join("who"), n.to_string()).unwrap();
                fs::write(pending.root.join("who-too"), n.to_string()).unwrap();
                barrier.wait();
                h.driver().commit_layer(pending).unwrap();
            })
        })
        .collect();
    for builder in builders {
        builder.join().unwrap();
    }
    let driver = h.driver();
    assert!(driver.has_layer(&id(2)).unwrap());
    let layer = h.layer_tree(&id(2));
    let who = fs::read_to_string(layer.join("who")).unwrap();
    assert_eq!(
        fs::read_to_string(layer.join("who-too")).unwrap(),
        who,
        "one builder's layer, whole"
    );
    assert!(who.parse::<usize>().unwrap() < BUILDERS);
    let own = match driver.diff_form() {
        DiffForm::FullTree => vec!["base", "who", "who-too"],
        DiffForm::OverlayUpper => vec!["who", "who-too"],
    };
    assert_eq!(names_in(&layer), own);
    let layers: Vec<_> = driver
        .list()
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == DatasetKind::Layer)
        .map(|d| d.name)
        .collect();
    assert_eq!(layers.len(), 2, "{layers:?}");
    assert!(h.pending().is_empty(), "{:?}", h.pending());
    assert_eq!(driver.clean_leftovers().unwrap(), Vec::<String>::new());
    let rootfs = driver.create_container("c", &id(2)).unwrap();
    assert_eq!(names_in(&rootfs), ["base", "who", "who-too"]);
    h.check_invariants();
}

pub fn a_second_commit_of_a_layer_keeps_the_first<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    let first = driver.begin_layer(&id(1), None).unwrap();
    let second = driver.begin_layer(&id(1), None).unwrap();
    fs::write(first.root.join("x"), "first").unwrap();
    fs::write(second.root.join("x"), "second").unwrap();
    driver.commit_layer(first).unwrap();
    driver.commit_layer(second).unwrap();
    assert_eq!(
        fs::read_to_string(h.layer_tree(&id(1)).join("x")).unwrap(),
        "first"
    );
    settled(&h);
}

/// Not a test on its own: the builder process of `a_killed_builder_leaves_nothing_a_later_commit_trips_over`,
/// which prints its pending layer's handle and waits to be killed.
pub fn build_until_killed(kind: &str, spec: &str) {
    let driver = crate::harness::reopen(kind, spec);
    let pending = driver.begin_layer(&id(7), None).unwrap();
    fs::write(pending.root.join("half"), "written").unwrap();
    let handle = pending.root.parent().unwrap().file_name().unwrap();
    println!("PENDING {}", handle.to_string_lossy());
    loop {
        std::thread::park();
    }
}

pub fn a_killed_builder_leaves_nothing_a_later_commit_trips_over<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    let (kind, spec) = h.builder_spec();
    let (mut child, line) = start_builder(
        "AURORA_STORAGE_BUILDER",
        &format!("{kind}\n{spec}"),
        "PENDING ",
    );
    let dead = line.strip_prefix("PENDING ").unwrap().to_string();
    let live = driver.begin_layer(&id(8), None).unwrap();
    assert!(
        driver.clean_leftovers().unwrap().is_empty(),
        "live builders' pending layers stay"
    );
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    // A pending layer whose lock file is gone (its state lost on reboot) goes too.
    h.make_unlocked_pending("orphan");
    assert!(!driver.has_layer(&id(7)).unwrap());

    let mut cleaned = clean_leftovers_eventually(driver, 2);
    cleaned.sort();
    let mut expected = vec![h.cleaned_name(&dead), h.cleaned_name("orphan")];
    expected.sort();
    assert_eq!(cleaned, expected);
    let pending = h.pending();
    assert_eq!(
        pending.len(),
        2,
        "only the live one and its lock: {pending:?}"
    );
    assert!(
        pending.iter().all(|n| n.starts_with(id(8).as_str())),
        "{pending:?}"
    );
    assert!(driver.clean_leftovers().unwrap().is_empty());

    // The killed builder's layer is built again from scratch, and commits.
    fs::write(live.root.join("f"), "live").unwrap();
    driver.commit_layer(live).unwrap();
    assert!(ensure_layer(driver, &id(7), None, &[("whole", "yes")]));
    assert_eq!(names_in(&h.layer_tree(&id(7))), ["whole"]);
    assert_eq!(
        fs::read_to_string(h.layer_tree(&id(8)).join("f")).unwrap(),
        "live"
    );
    assert!(h.pending().is_empty(), "{:?}", h.pending());
    assert!(driver.clean_leftovers().unwrap().is_empty());
    h.check_invariants();
}

pub fn aborted_and_dropped_pending_layers_leave_nothing<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    let pending = driver.begin_layer(&id(1), None).unwrap();
    write(&pending.root.join("x/y"), "z");
    assert!(
        !driver.has_layer(&id(1)).unwrap(),
        "pending layers are invisible"
    );
    assert!(driver.list().unwrap().is_empty());
    driver.abort_layer(pending).unwrap();
    assert!(!driver.has_layer(&id(1)).unwrap());
    assert!(h.pending().is_empty(), "{:?}", h.pending());

    // Dropped without commit or abort (a panic in the applier): cleaned as abandoned.
    drop(driver.begin_layer(&id(1), None).unwrap());
    assert_eq!(
        h.pending().len(),
        2,
        "the layer and its lock: {:?}",
        h.pending()
    );
    assert_eq!(clean_leftovers_eventually(driver, 1).len(), 1);
    assert!(h.pending().is_empty(), "{:?}", h.pending());

    // A lock file without its pending layer (a builder killed between removing the one and
    // the other) goes too, and is not reported as a removed layer.
    fs::write(h.lock_dir().join("stale-1-0.lock"), "").unwrap();
    assert_eq!(driver.clean_leftovers().unwrap(), Vec::<String>::new());
    assert!(h.pending().is_empty(), "{:?}", h.pending());
    assert!(driver.list().unwrap().is_empty());

    assert!(matches!(
        driver.begin_layer(&id(2), Some(&id(7))),
        Err(StorageError::NoSuchLayer(missing)) if missing == id(7)
    ));
    refused_as_missing(driver.create_container("c", &id(7)));
    refused_as_missing(driver.destroy_layer(&id(7)));
    settled(&h);
}

pub fn a_layer_in_use_goes_only_where_nothing_depends_on_it<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    ensure_layer(driver, &id(1), None, &[("base", "base")]);
    ensure_layer(driver, &id(2), Some(&id(1)), &[("top", "top")]);
    let rootfs = driver.create_container("c1", &id(2)).unwrap();

    if layers_hold_their_parents(driver.kind()) {
        let err = driver.destroy_layer(&id(2)).unwrap_err();
        match &err {
            StorageError::InUse { what, name, reason } => {
                assert_eq!((*what, name.as_str()), ("layer", id(2).as_str()));
                let container = h.named_in_use(DatasetKind::Container, "c1");
                assert!(reason.contains(&container), "names {container}: {reason}");
            }
            other => panic!("expected InUse, got {other}"),
        }
        let err = driver.destroy_layer(&id(1)).unwrap_err();
        assert!(
            matches!(&err, StorageError::InUse { what: "layer", .. }),
            "{err}"
        );
        let layer = h.named_in_use(DatasetKind::Layer, id(2).as_str());
        assert!(err.to_string().contains(&layer), "names {layer}: {err}");
        assert_eq!(fs::read_to_string(rootfs.join("base")).unwrap(), "base");

        driver.remove_container("c1").unwrap();
        driver.destroy_layer(&id(2)).unwrap();
        assert!(!driver.has_layer(&id(2)).unwrap());
        driver.destroy_layer(&id(1)).unwrap();
        assert!(driver.list().unwrap().is_empty());
    } else {
        // The layer owns its data as much as what was made from it: both go in any order.
        driver.destroy_layer(&id(1)).unwrap();
        driver.destroy_layer(&id(2)).unwrap();
        assert!(!driver.has_layer(&id(1)).unwrap());
        assert_eq!(fs::read_to_string(rootfs.join("base")).unwrap(), "base");
        assert_eq!(fs::read_to_string(rootfs.join("top")).unwrap(), "top");
        refused_as_missing(driver.create_container("d", &id(2)));
        refused_as_missing(driver.begin_layer(&id(3), Some(&id(2))));
    }
    refused_as_missing(driver.destroy_layer(&id(1)));
    settled(&h);
}

pub fn container_names_are_checked_and_claimed_once<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    refused_as_missing(driver.create_container("c", &id(1)));
    ensure_layer(driver, &id(1), None, &[("a", "a")]);
    let too_long = "a".repeat(64);
    for bad in ["", "../x", "a/b", ".hidden", "-x", "a@b", "a b", &too_long] {
        assert!(
            matches!(
                driver.create_container(bad, &id(1)),
                Err(StorageError::BadContainerName(_))
            ),
            "{bad:?}"
        );
        assert!(matches!(
            driver.container_rootfs(bad),
            Err(StorageError::BadContainerName(_))
        ));
    }
    driver.create_container(&"a".repeat(63), &id(1)).unwrap();
    driver.create_container("Web_1.2-x", &id(1)).unwrap();
    driver.create_container("c", &id(1)).unwrap();
    assert!(matches!(
        driver.create_container("c", &id(1)),
        Err(StorageError::ContainerExists(_))
    ));
    assert_eq!(
        fs::read_to_string(driver.container_rootfs("c").unwrap().join("a")).unwrap(),
        "a"
    );
    settled(&h);
}

pub fn container_changes_name_the_top_layer_and_where_to_read_them<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    ensure_layer(
        driver,
        &id(1),
        None,
        &[("etc/base", "base"), ("old", "old")],
    );
    ensure_layer(driver, &id(2), Some(&id(1)), &[("etc/top", "top")]);
    let rootfs = driver.create_container("c", &id(2)).unwrap();
    fs::write(rootfs.join("etc/top"), "changed").unwrap();
    fs::write(rootfs.join("new"), "new").unwrap();

    let (top, changes) = driver.container_changes("c").unwrap();
    assert_eq!(top, id(2));
    match changes {
        ContainerChanges::OverlayUpper(upper) => {
            assert_eq!(driver.kind(), DriverKind::Overlay);
            assert_eq!(
                tree(&upper),
                expect(&[
                    ("etc", "dir"),
                    ("etc/top", "file changed"),
                    ("new", "file new")
                ]),
                "the container's writes alone"
            );
        }
        ContainerChanges::Trees {
            base,
            changed,
            inodes_kept,
        } => {
            assert_eq!(changed, rootfs);
            assert_eq!(
                tree(&base),
                expect(&[
                    ("etc", "dir"),
                    ("etc/base", "file base"),
                    ("etc/top", "file top"),
                    ("old", "file old"),
                ]),
                "the top layer's whole tree"
            );
            let clones = matches!(driver.kind(), DriverKind::Zfs | DriverKind::Btrfs);
            assert_eq!(inodes_kept, clones, "{:?}", driver.kind());
        }
    }
    assert!(matches!(
        driver.container_changes("nope"),
        Err(StorageError::NoSuchContainer(_))
    ));
    h.check_invariants();
}

/// A container adopted as a layer: the layer holds the container's tree, the container is
/// gone, and a container of the new layer sees the same files.
pub fn a_container_adopted_as_a_layer_keeps_its_tree<H: Harness>(test: &str) {
    let Some(h) = H::setup(test) else { return };
    let driver = h.driver();
    ensure_layer(
        driver,
        &id(1),
        None,
        &[("etc/base", "base"), ("old", "old")],
    );
    let rootfs = driver.create_container("step", &id(1)).unwrap();
    fs::write(rootfs.join("etc/base"), "changed").unwrap();
    fs::remove_file(rootfs.join("old")).unwrap();
    fs::write(rootfs.join("new"), "new").unwrap();
    let expected = expect(&[
        ("etc", "dir"),
        ("etc/base", "file changed"),
        ("new", "file new"),
    ]);
    // Every driver adopts (overlay renames the upper, zfs renames the clone, btrfs and dir
    // snapshot or move the tree).
    assert!(driver.adopt_container("step", &id(9)).unwrap());
    assert!(driver.has_layer(&id(9)).unwrap());
    assert!(matches!(
        driver.container_changes("step"),
        Err(StorageError::NoSuchContainer(_))
    ));
    let again = driver.create_container("after", &id(9)).unwrap();
    assert_eq!(tree(&again), expected);
    driver.remove_container("after").unwrap();
    settled(&h);
}
