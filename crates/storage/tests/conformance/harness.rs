//! One harness per driver: how the suite makes a driver on real storage (or on the fake zfs),
//! reopens it in a builder process, sees what is pending, and checks what only that driver's
//! on-disk state can say.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aurora_storage::btrfs::BtrfsDriver;
use aurora_storage::dir::DirDriver;
use aurora_storage::overlay::OverlayDriver;
use aurora_storage::zfs::ZfsDriver;
use aurora_storage::{Dataset, DatasetKind, Driver, LayerId};
use aurora_testkit::{BtrfsVolume, FakeZfs, ZfsPool};

use crate::common::{mounts_under, names_in};

/// A driver under test, with what the suite needs to look behind it.
pub trait Harness: Send + Sync + Sized + 'static {
    /// The driver on fresh storage, or `None` after `aurora_testkit::skip` said why.
    fn setup(test: &str) -> Option<Self>;

    fn driver(&self) -> &dyn Driver;

    /// How a builder process opens the same driver: `(kind, spec)` for [`reopen`].
    fn builder_spec(&self) -> (&'static str, String);

    /// The names of what is pending: pending layers (and containers being made) and lock
    /// files.
    fn pending(&self) -> Vec<String>;

    /// How `clean_leftovers` names pending layer `handle` when it removes it.
    fn cleaned_name(&self, handle: &str) -> String {
        handle.to_string()
    }

    /// Makes a pending layer called `handle` that has no lock file (its builder's state was
    /// lost, e.g. on reboot).
    fn make_unlocked_pending(&self, handle: &str);

    /// The directory of the pending layers' lock files.
    fn lock_dir(&self) -> PathBuf;

    /// Where a committed layer's own tree is (the whole tree, or only its changes for
    /// overlay).
    fn layer_tree(&self, id: &LayerId) -> PathBuf;

    /// Something that changes when a layer is built again rather than found present.
    fn layer_identity(&self, id: &LayerId) -> String {
        let meta = fs::metadata(self.layer_tree(id)).unwrap();
        format!("{}:{}:{}", meta.dev(), meta.ino(), meta.ctime_nsec())
    }

    /// Where container `name`'s rootfs must be.
    fn expected_rootfs(&self, name: &str) -> PathBuf;

    /// How an `InUse` error names a container or layer made from the one refused.
    fn named_in_use(&self, kind: DatasetKind, name: &str) -> String {
        match kind {
            DatasetKind::Container => format!("container {name}"),
            DatasetKind::Layer => format!("layer {name}"),
        }
    }

    /// What `list` says of sizes after the chain scenario, where the driver can tell.
    fn check_chain_sizes(&self, _listed: &[Dataset]) {}

    /// What must hold of the driver's own state after every scenario.
    fn check_invariants(&self) {}
}

/// Opens the driver a [`Harness::builder_spec`] names, in a builder process.
pub fn reopen(kind: &str, spec: &str) -> Box<dyn Driver> {
    match kind {
        "dir" => Box::new(DirDriver::new(spec).unwrap()),
        "overlay" => Box::new(OverlayDriver::new(spec.into()).unwrap()),
        "btrfs" => Box::new(BtrfsDriver::new(spec.into()).unwrap()),
        "zfs" => {
            let (parent, state) = spec.split_once('\n').unwrap();
            Box::new(ZfsDriver::new(parent, state.into()).unwrap())
        }
        "fake-zfs" => {
            let (dir, rest) = spec.split_once('\n').unwrap();
            let (parent, state) = rest.split_once('\n').unwrap();
            let fake = Arc::new(FakeZfs::open(Path::new(dir)));
            Box::new(ZfsDriver::with_runner(fake, parent, state.into()).unwrap())
        }
        other => panic!("no harness for {other}"),
    }
}

/// A layout driver keeps nothing in `layers/` and `containers/` but what `list` reports.
fn layout_invariants(driver: &dyn Driver, base: &Path) {
    let listed = driver.list().unwrap();
    for (kind, sub) in [
        (DatasetKind::Layer, "layers"),
        (DatasetKind::Container, "containers"),
    ] {
        let names: Vec<String> = listed
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(
            names_in(&base.join(sub)),
            names,
            "{sub}/ holds what list() reports"
        );
    }
}

/// The entries of a layout driver's `pending/` (entries and their locks).
fn layout_pending(base: &Path) -> Vec<String> {
    names_in(&base.join("pending"))
}

/// A pending directory without a lock, as a layout driver would have left it.
fn layout_unlocked_pending(base: &Path, handle: &str, tree: &str) {
    fs::create_dir_all(base.join("pending").join(handle).join(tree)).unwrap();
}

pub struct Dir {
    driver: DirDriver,
    base: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness for Dir {
    fn setup(_test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("storage");
        let driver = DirDriver::new(&base).unwrap();
        Some(Dir {
            driver,
            base,
            _dir: dir,
        })
    }

    fn driver(&self) -> &dyn Driver {
        &self.driver
    }

    fn builder_spec(&self) -> (&'static str, String) {
        ("dir", self.base.display().to_string())
    }

    fn pending(&self) -> Vec<String> {
        layout_pending(&self.base)
    }

    fn make_unlocked_pending(&self, handle: &str) {
        layout_unlocked_pending(&self.base, handle, "root");
    }

    fn lock_dir(&self) -> PathBuf {
        self.base.join("pending")
    }

    fn layer_tree(&self, id: &LayerId) -> PathBuf {
        self.base.join("layers").join(id.as_str()).join("root")
    }

    fn expected_rootfs(&self, name: &str) -> PathBuf {
        self.base.join("containers").join(name).join("root")
    }

    fn check_invariants(&self) {
        layout_invariants(&self.driver, &self.base);
    }
}

pub struct Overlay {
    setup: crate::common::OverlaySetup,
}

impl Harness for Overlay {
    fn setup(test: &str) -> Option<Self> {
        let setup = crate::common::overlay_or_skip(test)?;
        Some(Overlay { setup })
    }

    fn driver(&self) -> &dyn Driver {
        &self.setup.driver
    }

    fn builder_spec(&self) -> (&'static str, String) {
        ("overlay", self.setup.driver.base().display().to_string())
    }

    fn pending(&self) -> Vec<String> {
        layout_pending(self.setup.driver.base())
    }

    fn make_unlocked_pending(&self, handle: &str) {
        layout_unlocked_pending(self.setup.driver.base(), handle, "diff");
    }

    fn lock_dir(&self) -> PathBuf {
        self.setup.driver.base().join("pending")
    }

    fn layer_tree(&self, id: &LayerId) -> PathBuf {
        self.setup.driver.layer_path(id).join("diff")
    }

    fn expected_rootfs(&self, name: &str) -> PathBuf {
        self.setup.driver.container_path(name).join("root")
    }

    fn check_chain_sizes(&self, listed: &[Dataset]) {
        // The bytes of each layer's diff and each container's upper directory.
        let used: Vec<u64> = listed.iter().map(|d| d.used_bytes).collect();
        let chain = crate::scenarios::chain_ids();
        let expected_by_name = |name: &str| -> u64 {
            match name {
                n if n == chain[0].as_str() => 4 + 1 + 7 + 1 + 1 + 9,
                n if n == chain[1].as_str() => 7 + 3,
                n if n == chain[2].as_str() => 1,
                "c1" => 7 + 4,
                _ => 0,
            }
        };
        let expected: Vec<u64> = listed.iter().map(|d| expected_by_name(&d.name)).collect();
        assert_eq!(
            used, expected,
            "used bytes: the diff, the upper: {listed:?}"
        );
    }

    /// One short link in `l/` per committed layer, pointing at it; nothing mounted but the
    /// rootfs of existing containers, each once.
    fn check_invariants(&self) {
        let base = self.setup.driver.base();
        assert_eq!(
            self.setup.driver.diff_form(),
            aurora_storage::DiffForm::OverlayUpper
        );
        layout_invariants(&self.setup.driver, base);
        let layers = names_in(&base.join("layers"));
        let links = names_in(&base.join("l"));
        assert_eq!(
            links.len(),
            layers.len(),
            "links {links:?} for layers {layers:?}"
        );
        for link in &links {
            let target = fs::read_link(base.join("l").join(link)).unwrap();
            assert!(base.join("l").join(&target).is_dir(), "{link} → {target:?}");
        }
        let containers = names_in(&base.join("containers"));
        let mut mounted = mounts_under(base);
        mounted.sort();
        let expected: Vec<PathBuf> = containers
            .iter()
            .map(|c| self.setup.driver.container_path(c).join("root"))
            .collect();
        assert_eq!(mounted, expected, "one overlay per container, at its root");
    }
}

pub struct Btrfs {
    pub driver: BtrfsDriver,
    _volume: BtrfsVolume,
}

impl Harness for Btrfs {
    fn setup(test: &str) -> Option<Self> {
        let volume = BtrfsVolume::create_or_skip(test)?;
        let driver = BtrfsDriver::new(volume.path().join("aurora")).unwrap();
        Some(Btrfs {
            driver,
            _volume: volume,
        })
    }

    fn driver(&self) -> &dyn Driver {
        &self.driver
    }

    fn builder_spec(&self) -> (&'static str, String) {
        ("btrfs", self.driver.base().display().to_string())
    }

    fn pending(&self) -> Vec<String> {
        layout_pending(self.driver.base())
    }

    fn make_unlocked_pending(&self, handle: &str) {
        layout_unlocked_pending(self.driver.base(), handle, "root");
    }

    fn lock_dir(&self) -> PathBuf {
        self.driver.base().join("pending")
    }

    fn layer_tree(&self, id: &LayerId) -> PathBuf {
        self.driver.layer_path(id).join("root")
    }

    fn expected_rootfs(&self, name: &str) -> PathBuf {
        self.driver.container_path(name).join("root")
    }

    /// Nothing was ever snapshotted *into* a layer or a container (btrfs-progs does that
    /// when a snapshot's destination exists): each holds its tree and its note only.
    fn check_invariants(&self) {
        layout_invariants(&self.driver, self.driver.base());
        for layer in self.driver.list().unwrap() {
            let (dir, notes) = match layer.kind {
                DatasetKind::Layer => (
                    self.driver
                        .layer_path(&LayerId::parse(&layer.name).unwrap()),
                    layer.parent.iter().map(|_| "parent").collect::<Vec<_>>(),
                ),
                DatasetKind::Container => (self.driver.container_path(&layer.name), vec!["layer"]),
            };
            let mut expected: Vec<&str> = notes;
            expected.push("root");
            expected.sort();
            assert_eq!(names_in(&dir), expected, "{}", dir.display());
        }
    }
}

/// A pool for the zfs driver: a real one on zfs-fuse, or the fake.
pub trait ZfsBackend: Send + Sync + Sized + 'static {
    /// The pool, the driver on `POOL/aurora` and its state directory.
    fn setup(test: &str) -> Option<(Self, ZfsDriver, PathBuf)>;
    /// `zfs ARGS…` on the pool, its output (a failure panics).
    fn zfs(&self, args: &[&str]) -> String;
    /// How a builder process opens the same driver (see [`reopen`]).
    fn builder_spec(&self, driver: &ZfsDriver, state: &Path) -> (&'static str, String);
    /// What `list` says of sizes after the chain scenario, where the pool can tell.
    fn check_chain_sizes(&self, _listed: &[Dataset]) {}
}

/// The zfs driver on a [`ZfsBackend`].
pub struct ZfsOn<B: ZfsBackend> {
    driver: ZfsDriver,
    pool: B,
    state: PathBuf,
}

impl<B: ZfsBackend> ZfsOn<B> {
    fn property(&self, dataset: &str, property: &str) -> String {
        self.pool
            .zfs(&["get", "-Hp", "-o", "value", property, dataset])
            .trim()
            .to_string()
    }

    /// The dataset of a layer or container.
    fn dataset(&self, kind: DatasetKind, name: &str) -> String {
        match kind {
            DatasetKind::Layer => self.driver.layer_dataset(&LayerId::parse(name).unwrap()),
            DatasetKind::Container => self.driver.container_dataset(name),
        }
    }

    fn pending_parent(&self) -> String {
        format!("{}/pending", self.driver.parent_dataset())
    }
}

impl<B: ZfsBackend> Harness for ZfsOn<B> {
    fn setup(test: &str) -> Option<Self> {
        let (pool, driver, state) = B::setup(test)?;
        Some(ZfsOn {
            driver,
            pool,
            state,
        })
    }

    fn driver(&self) -> &dyn Driver {
        &self.driver
    }

    fn builder_spec(&self) -> (&'static str, String) {
        self.pool.builder_spec(&self.driver, &self.state)
    }

    /// The datasets below `PARENT/pending`, and the lock files in the state directory.
    fn pending(&self) -> Vec<String> {
        let parent = self.pending_parent();
        let listed = self.pool.zfs(&[
            "list",
            "-H",
            "-o",
            "name",
            "-r",
            "-d",
            "1",
            "-t",
            "filesystem",
            &parent,
        ]);
        let mut found: Vec<String> = listed
            .lines()
            .filter_map(|name| name.strip_prefix(&format!("{parent}/")).map(str::to_string))
            .collect();
        found.extend(
            names_in(&self.state)
                .into_iter()
                .filter(|n| n.ends_with(".lock")),
        );
        found.sort();
        found
    }

    fn cleaned_name(&self, handle: &str) -> String {
        format!("{}/{handle}", self.pending_parent())
    }

    fn make_unlocked_pending(&self, handle: &str) {
        self.pool
            .zfs(&["create", &format!("{}/{handle}", self.pending_parent())]);
    }

    fn lock_dir(&self) -> PathBuf {
        self.state.clone()
    }

    fn layer_tree(&self, id: &LayerId) -> PathBuf {
        self.driver.layer_root(id).unwrap()
    }

    fn layer_identity(&self, id: &LayerId) -> String {
        self.property(&self.driver.layer_dataset(id), "guid")
    }

    fn expected_rootfs(&self, name: &str) -> PathBuf {
        // The dataset is the zonepath; the tree is in root/.
        let dataset = self.driver.container_dataset(name);
        PathBuf::from(self.property(&dataset, "mountpoint")).join("root")
    }

    fn named_in_use(&self, kind: DatasetKind, name: &str) -> String {
        self.dataset(kind, name)
    }

    fn check_chain_sizes(&self, listed: &[Dataset]) {
        self.pool.check_chain_sizes(listed);
    }

    /// zfs shows the chain itself: each layer a clone of its parent's `@final`, each
    /// container of its top layer's, and every committed layer has its `@final`.
    fn check_invariants(&self) {
        for dataset in self.driver.list().unwrap() {
            let name = self.dataset(dataset.kind, &dataset.name);
            let expected = match &dataset.parent {
                Some(parent) => format!("{}@final", self.driver.layer_dataset(parent)),
                None => "-".to_string(),
            };
            assert_eq!(self.property(&name, "origin"), expected, "origin of {name}");
            if dataset.kind == DatasetKind::Layer {
                assert_eq!(self.property(&format!("{name}@final"), "type"), "snapshot");
            }
        }
    }
}

/// A file-backed pool on zfs-fuse (testkit's `ZfsPool`).
pub type Zfs = ZfsOn<ZfsPool>;

impl ZfsBackend for ZfsPool {
    fn setup(test: &str) -> Option<(Self, ZfsDriver, PathBuf)> {
        let pool = ZfsPool::create_or_skip(test)?;
        let state = pool.scratch();
        let driver = ZfsDriver::new(&format!("{}/aurora", pool.name()), state.clone()).unwrap();
        Some((pool, driver, state))
    }

    fn zfs(&self, args: &[&str]) -> String {
        ZfsPool::zfs(self, args)
    }

    fn builder_spec(&self, driver: &ZfsDriver, state: &Path) -> (&'static str, String) {
        (
            "zfs",
            format!("{}\n{}", driver.parent_dataset(), state.display()),
        )
    }

    fn check_chain_sizes(&self, listed: &[Dataset]) {
        // Layers were synced by their snapshot; a container's `used` lags its writes until
        // the next transaction group, so it may still read 0 here.
        let layers = listed.iter().filter(|d| d.kind == DatasetKind::Layer);
        assert!(layers.clone().all(|d| d.used_bytes > 0), "{listed:#?}");
    }
}

/// The zfs driver over testkit's `FakeZfs`: its logic, without a pool.
pub type FakeZfsPool = ZfsOn<FakePool>;

pub struct FakePool {
    fake: Arc<FakeZfs>,
    _dir: tempfile::TempDir,
}

impl ZfsBackend for FakePool {
    fn setup(_test: &str) -> Option<(Self, ZfsDriver, PathBuf)> {
        let dir = tempfile::Builder::new()
            .prefix("aurora-fake-zfs-")
            .tempdir()
            .unwrap();
        let fake = Arc::new(FakeZfs::create(&dir.path().join("pool"), "fakepool"));
        let state = dir.path().join("state");
        let driver =
            ZfsDriver::with_runner(fake.clone(), "fakepool/aurora", state.clone()).unwrap();
        Some((FakePool { fake, _dir: dir }, driver, state))
    }

    fn zfs(&self, args: &[&str]) -> String {
        self.fake.zfs(args)
    }

    fn builder_spec(&self, driver: &ZfsDriver, state: &Path) -> (&'static str, String) {
        let spec = format!(
            "{}\n{}\n{}",
            self.fake.dir().display(),
            driver.parent_dataset(),
            state.display()
        );
        ("fake-zfs", spec)
    }
}
