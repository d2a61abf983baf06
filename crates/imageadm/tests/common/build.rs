//! What the build tests share: a busybox base with named users in a real registry, build
//! contexts, buildah with a store of its own, imageadm's build unpacked as a tree, the static
//! helpers the build containers need.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use aurora_testkit::skip::root_or_skip;
use aurora_testkit::tree::{snapshot, Snap, Tree};
use aurora_testkit::{require_tools, ImageBuilder, LayerBuilder, PushOpts, Registry};
use serde_json::Value;

use super::{push, World};

/// Applets the Containerfiles use, as links to the static busybox of the base layer.
pub const APPLETS: [&str; 16] = [
    "mkdir", "chmod", "chown", "id", "env", "printf", "cp", "ln", "touch", "rm", "mv", "test",
    "pwd", "tr", "dd", "sleep",
];

/// busybox with a user and a group that have names, pushed to `registry` as `base/busy:1`.
pub fn base_image(registry: &Registry) -> String {
    let mut tools = LayerBuilder::new();
    for applet in APPLETS {
        tools = tools.symlink(&format!("bin/{applet}"), "busybox");
    }
    let users = tools
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            0o644,
        )
        .file("etc/group", "root:x:0:\nappgrp:x:1001:\nnogroup:x:65534:\n", 0o644)
        .dir("home", 0o755)
        .dir("home/app", 0o755);
    let image = ImageBuilder::new()
        .layer(LayerBuilder::busybox_rootfs().build())
        .layer(users.build())
        .cmd(&["/bin/sh"]);
    push(registry, &image, "base/busy:1", &PushOpts::default());
    registry.image_ref("base/busy:1")
}

/// A context directory with `Containerfile` and `files`.
pub fn context(dir: &Path, containerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    let context = dir.join("context");
    fs::create_dir_all(&context).unwrap();
    fs::write(context.join("Containerfile"), containerfile).unwrap();
    for (path, text) in files {
        let path = context.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    context
}

/// buildah with a store of its own under `dir`, chroot isolation (no runtime, no cgroups).
pub struct Buildah {
    root: PathBuf,
    runroot: PathBuf,
}

impl Buildah {
    pub fn new(dir: &Path) -> Self {
        Buildah {
            root: dir.join("buildah/root"),
            runroot: dir.join("buildah/run"),
        }
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new("buildah");
        command
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"]);
        command
    }

    /// `buildah bud`, then the image's root (mounted, snapshotted) and config.
    pub fn build(&self, context: &Path, extra: &[&str]) -> (Tree, Value) {
        let out = self
            .command()
            .args([
                "bud",
                "--tls-verify=false",
                "--isolation",
                "chroot",
                "-t",
                "built:1",
            ])
            .args(extra)
            .arg(context)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "buildah bud: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let container = self.text(&["from", "--pull-never", "built:1"]);
        let mount = self.text(&["mount", &container]);
        let tree = normalized(Path::new(&mount));
        self.text(&["umount", &container]);
        self.text(&["rm", &container]);
        let config: Value =
            serde_json::from_str(&self.text(&["inspect", "--type", "image", "built:1"])).unwrap();
        (tree, config["OCIv1"].clone())
    }

    pub fn text(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = self.command().args(["rm", "--all"]).output();
        let _ = self.command().args(["rmi", "--all", "--force"]).output();
    }
}

/// A root as both tools must agree on it: no times (each tool stamps its own), and not the
/// paths a runtime mounts over while a step runs.
pub fn normalized(root: &Path) -> Tree {
    let mut tree = snapshot(
        root,
        Snap {
            dir_mtimes: false,
            hide_overlay_xattrs: true,
        },
    );
    tree.remove("");
    for node in tree.values_mut() {
        node.mtime = None;
        node.xattrs.clear();
    }
    tree
}

/// imageadm's build of `context`, unpacked and snapshotted, with its config and id.
pub fn imageadm_build(world: &World, context: &Path, extra: &[&str]) -> (Tree, Value, String) {
    let (tree, config, id, _) = imageadm_build_with(world, &[], context, extra);
    (tree, config, id)
}

/// As [`imageadm_build`], with global flags (`--storage`) first; the build's report last.
pub fn imageadm_build_with(
    world: &World,
    global: &[&str],
    context: &Path,
    extra: &[&str],
) -> (Tree, Value, String, Value) {
    let mut args: Vec<&str> = global.to_vec();
    args.extend_from_slice(&["--quiet", "build", "--format", "json", "-t", "built:1"]);
    args.extend_from_slice(extra);
    let context_arg = context.display().to_string();
    args.push(&context_arg);
    let report = world.ok(&args).json();
    let bundle = world.dir.path().join(format!("bundle-{}", rand_suffix()));
    let bundle_arg = bundle.display().to_string();
    let mut unpack: Vec<&str> = global.to_vec();
    unpack.extend_from_slice(&["--quiet", "unpack", "built:1", &bundle_arg]);
    world.ok(&unpack);
    let tree = normalized(&fs::canonicalize(bundle.join("rootfs")).unwrap());
    let mut remove: Vec<&str> = global.to_vec();
    remove.extend_from_slice(&["--quiet", "rm-bundle", &bundle_arg]);
    world.ok(&remove);
    let inspect = world.ok(&["inspect", "built:1"]).json();
    let id = report["id"].as_str().unwrap().to_string();
    (tree, inspect["config"].clone(), id, report)
}

pub fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The fields of a config both tools define (buildah's label naming itself left out).
pub fn comparable(config: &Value) -> Value {
    let mut c = config["config"].clone();
    if let Some(labels) = c["Labels"].as_object_mut() {
        labels.remove("io.buildah.version");
    }
    serde_json::json!({
        "Env": c["Env"], "Cmd": c["Cmd"], "Entrypoint": c["Entrypoint"],
        "WorkingDir": c["WorkingDir"], "User": c["User"], "ExposedPorts": c["ExposedPorts"],
        "Volumes": c["Volumes"], "Labels": c["Labels"], "StopSignal": c["StopSignal"],
    })
}

pub fn setup() -> Option<(Registry, String)> {
    if !root_or_skip("imageadm build runs containers and sets owners") {
        return None;
    }
    require_tools(&["buildah", "docker-registry", "skopeo"]);
    let registry = Registry::open();
    let base = base_image(&registry);
    Some((registry, base))
}

/// The build containers in a store (clones named `build-…`).
pub fn build_clones(root: &Path) -> Vec<String> {
    let containers = root.join("storage/containers");
    fs::read_dir(containers)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("build-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The static buildhelper build steps mount.
pub fn static_buildhelper() -> PathBuf {
    aurora_testkit::static_buildhelper()
}

/// The static podinit, as runz's tests find it.
pub fn static_podinit() -> PathBuf {
    aurora_testkit::static_podinit()
}
