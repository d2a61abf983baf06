//! Support shared by imageadm's integration tests: running the real binary in an isolated
//! environment, snapshotting a store, and pushing test images to a real registry.

#![allow(dead_code)] // each test file uses a different part of this module

pub mod build;
pub mod pull;
pub mod smartos;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aurora_testkit::tree::{self, Tree};
use aurora_testkit::{skopeo_push, BuiltImage, ImageBuilder, LayerBuilder, PushOpts, Registry};
use tempfile::TempDir;

/// A scratch world for one test: a store root, an auth file, a HOME with nothing in it, so
/// that the developer's own credentials and config never leak into a test.
pub struct World {
    pub dir: TempDir,
    root: Option<PathBuf>,
}

impl World {
    pub fn new() -> Self {
        World {
            dir: tempfile::tempdir().expect("temporary directory"),
            root: None,
        }
    }

    /// A world whose store is at `root` (on a filesystem the test made, e.g. btrfs).
    pub fn with_root(root: PathBuf) -> Self {
        let mut world = World::new();
        world.root = Some(root);
        world
    }

    pub fn root(&self) -> PathBuf {
        self.root
            .clone()
            .unwrap_or_else(|| self.dir.path().join("store"))
    }

    pub fn authfile(&self) -> PathBuf {
        self.dir.path().join("auth.json")
    }

    /// `imageadm --root STORE` with a clean environment: HOME, DOCKER_CONFIG and the auth
    /// file all point inside the world; no config file; no RUST_LOG from the caller.
    pub fn imageadm(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_imageadm"));
        let home = self.dir.path().join("home");
        fs::create_dir_all(&home).expect("home directory");
        command
            .env_remove("RUST_LOG")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("AURORA_ROOT")
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("REGISTRY_AUTH_FILE", self.authfile())
            .env("AURORA_CONFIG", self.dir.path().join("no-such-config.toml"))
            .arg("--root")
            .arg(self.root());
        command
    }

    /// Runs `imageadm ARGS…` and returns what happened.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.imageadm().args(args).output().expect("run imageadm"))
    }

    /// Runs `imageadm ARGS…` and panics, showing its output, unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "imageadm {args:?} failed:\n{run}");
        run
    }
}

/// Containers the test left mounted (overlay) are unmounted before the directory goes, so
/// that no mount outlives its test.
impl Drop for World {
    fn drop(&mut self) {
        let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let mut inside: Vec<&str> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| {
                Path::new(point).starts_with(self.dir.path())
                    || self
                        .root
                        .as_ref()
                        .is_some_and(|r| Path::new(point).starts_with(r))
            })
            .collect();
        inside.sort_unstable_by_key(|point| std::cmp::Reverse(point.len()));
        for point in inside {
            let _ = Command::new("umount").arg("-l").arg(point).status();
        }
    }
}

/// The outcome of one imageadm run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Asserts a failure with `code` whose standard error mentions every one of `words`.
    pub fn assert_fails(&self, code: i32, words: &[&str]) {
        assert_eq!(self.code, code, "unexpected exit status:\n{self}");
        for word in words {
            assert!(
                self.stderr.contains(word),
                "stderr should mention {word:?}:\n{self}"
            );
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

/// A store's files with their bytes, by path relative to its root.
pub type Snapshot = BTreeMap<String, Vec<u8>>;

/// Every file under the store's root with its bytes: the layout proper (oci-layout,
/// index.json, blobs/…) and anything else written there; the private `.aurora/` directory
/// (locks, partial downloads) is left out.
pub fn snapshot(root: &Path) -> Snapshot {
    files_except(root, &[PRIVATE_DIR])
}

/// The layout proper with its bytes, without the storage driver's tree under `storage/`
/// (which holds fifos and devices no byte read can take; see [`StoreState`]).
pub fn layout_files(root: &Path) -> Snapshot {
    files_except(root, &[PRIVATE_DIR, STORAGE_DIR])
}

/// The store's private directory and the storage drivers' tree (dir and overlay), under the
/// store's root.
const PRIVATE_DIR: &str = ".aurora";
const STORAGE_DIR: &str = "storage";

fn files_except(root: &Path, left_out: &[&str]) -> Snapshot {
    let mut files = BTreeMap::new();
    if root.exists() {
        collect(root, root, left_out, &mut files);
    }
    files
}

fn collect(root: &Path, dir: &Path, left_out: &[&str], files: &mut Snapshot) {
    for entry in fs::read_dir(dir).expect("read store directory") {
        let path = entry.expect("directory entry").path();
        let relative = path
            .strip_prefix(root)
            .expect("inside root")
            .to_string_lossy()
            .into_owned();
        if left_out.contains(&relative.as_str()) {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, left_out, files);
        } else {
            files.insert(relative, fs::read(&path).expect("read store file"));
        }
    }
}

/// Fails, naming the files that differ, unless both snapshots hold the same files and bytes.
pub fn assert_same_files(before: &Snapshot, after: &Snapshot) {
    let changed: BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    assert!(
        changed.is_empty(),
        "the store's layout changed; files added, removed or rewritten: {changed:?}"
    );
}

/// All a store holds, to say it is as it was: the layout's files byte for byte, the storage
/// driver's tree under `storage/` path by path (owners, modes, contents, times), and the
/// scratch directory's files.
pub struct StoreState {
    layout: Snapshot,
    storage: Tree,
    scratch: Vec<String>,
}

impl StoreState {
    pub fn of(root: &Path) -> Self {
        let storage = root.join(STORAGE_DIR);
        let mut scratch = scratch_files(root);
        scratch.sort();
        StoreState {
            layout: layout_files(root),
            storage: if storage.exists() {
                tree::snapshot(&storage, tree::EXACT)
            } else {
                Tree::new()
            },
            scratch,
        }
    }

    /// Fails, naming what differs, unless the store at `root` is still as `self` saw it;
    /// `what` names the step that should have changed nothing.
    pub fn assert_unchanged(&self, root: &Path, what: &str) {
        let now = StoreState::of(root);
        assert_same_files(&self.layout, &now.layout);
        if let Some(differences) = tree::diff("before", &self.storage, "after", &now.storage) {
            panic!("{what} changed the storage tree:\n{differences}");
        }
        assert_eq!(now.scratch, self.scratch, "{what} left scratch files");
    }
}

/// The files left in the store's scratch directory (partial downloads).
pub fn scratch_files(root: &Path) -> Vec<String> {
    match fs::read_dir(root.join(".aurora/tmp")) {
        Ok(entries) => entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Builds an image of a busybox layer plus `extra_layers` small layers and pushes it to
/// `registry` as `repo_tag` (e.g. "team/app:1"). Returns what was built.
pub fn push_image(
    registry: &Registry,
    repo_tag: &str,
    extra_layers: usize,
    opts: &PushOpts,
) -> BuiltImage {
    let mut builder = ImageBuilder::new()
        .layer(LayerBuilder::busybox_rootfs().build())
        .cmd(&["/bin/sh"]);
    for n in 0..extra_layers {
        builder = builder.layer(
            LayerBuilder::new()
                .file(
                    &format!("/data/file-{n}.txt"),
                    format!("layer {n} of {repo_tag}\n"),
                    0o644,
                )
                .build(),
        );
    }
    let mut opts = opts.clone();
    if opts.creds.is_none() {
        opts.creds = registry.credentials();
    }
    push(registry, &builder, repo_tag, &opts)
}

/// `skopeo inspect --raw oci:ROOT:NAME`: the manifest as skopeo reads it from our store.
pub fn skopeo_inspect_store(root: &Path, name: &str) -> Vec<u8> {
    let output = Command::new("skopeo")
        .args(["--insecure-policy", "inspect", "--raw"])
        .arg(format!("oci:{}:{}", root.display(), name))
        .output()
        .expect("run skopeo");
    assert!(
        output.status.success(),
        "skopeo could not read {name} from the store: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Writes `image` to a scratch layout and pushes it to `registry` as `repo_tag`.
pub fn push(
    registry: &Registry,
    image: &ImageBuilder,
    repo_tag: &str,
    opts: &PushOpts,
) -> BuiltImage {
    let layout = tempfile::tempdir().expect("layout directory");
    let built = image.write(layout.path(), "t");
    skopeo_push(layout.path(), "t", &registry.image_ref(repo_tag), opts);
    built
}

/// `umoci unpack --image ROOT:NAME BUNDLE`.
pub fn umoci_unpack(root: &Path, name: &str, bundle: &Path) -> Output {
    Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{name}", root.display()))
        .arg(bundle)
        .output()
        .expect("run umoci")
}

/// Where a sha256 blob lives in a store.
pub fn blob_path(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").expect("a sha256 digest"))
}

/// The names index.json gives its entries, in index order.
pub fn store_names(root: &Path) -> Vec<String> {
    let bytes = fs::read(root.join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_slice(&bytes).expect("index.json is JSON");
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect()
}

/// A registry holding `team/src:1` (busybox + 2 layers), pulled into a new store: the
/// world and the image's reference.
pub fn pulled(registry: &Registry) -> (World, String) {
    aurora_testkit::require_tools(&["docker-registry", "skopeo"]);
    push_image(registry, "team/src:1", 2, &PushOpts::default());
    let world = World::new();
    let reference = registry.image_ref("team/src:1");
    world.ok(&["--quiet", "pull", &reference]);
    (world, reference)
}

/// `skopeo copy` of `source` (a transport:reference) into the OCI layout `dir` as `tag`,
/// asserting success.
pub fn skopeo_copy_to_layout(source: &str, dir: &Path, tag: &str) {
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            source,
        ])
        .arg(format!("oci:{}:{tag}", dir.display()))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {source}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox base layer with something of every kind: files to replace and white out, a
/// directory to white out, a symlink, a hardlink, a fifo, owners, setuid, xattrs (user and
/// trusted), and a directory for a later layer to make opaque.
pub fn rich_base_layer() -> LayerBuilder {
    LayerBuilder::busybox_rootfs()
        .dir("data", 0o755)
        .file("data/keep.txt", "keep v1\n", 0o644)
        .file("data/gone.txt", "whited out by layer 2\n", 0o644)
        .dir("data/sub", 0o750)
        .file("data/sub/a.txt", "whited out with its directory\n", 0o600)
        .symlink("data/link", "keep.txt")
        .hardlink("data/hl", "data/keep.txt")
        .fifo("data/fifo", 0o620)
        .dir("home", 0o755)
        .dir("home/user", 0o700)
        .file_owned("home/user/own.txt", "mine\n", 0o640, 1000, 1000)
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .file("usr/bin/suid", "#!/bin/sh\n", 0o4755)
        .file_with_xattrs(
            "usr/bin/tagged",
            "has xattrs\n",
            0o755,
            &[("user.aurora.test", b"one"), ("trusted.aurora", b"two")],
        )
        .dir("opt", 0o755)
        .dir("opt/old", 0o755)
        .file("opt/old/x", "hidden by the opaque directory\n", 0o644)
}
