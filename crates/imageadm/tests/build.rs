//! `imageadm build` against `buildah bud` (Debian's buildah) on the same Containerfiles and
//! contexts: the two images, unpacked, must be equal path by path (type, mode, owner,
//! content, links), and their configs equal in what both define. Then the cache: a second
//! build is all cache hits with the same image id; a changed context file rebuilds from the
//! first step that reads it; `--no-cache` runs everything. Hostile contexts are refused.
//!
//! Needs root (mounts, owners), buildah, docker-registry and skopeo; skipped otherwise
//! through `aurora_testkit::skip` (a failure when the run requires every test).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use aurora_testkit::skip::root_or_skip;
use aurora_testkit::tree::{diff, snapshot, Snap, Tree};
use aurora_testkit::{require_tools, ImageBuilder, LayerBuilder, PushOpts, Registry};
use common::{push, World};
use serde_json::Value;

/// Applets the Containerfiles use, as links to the static busybox of the base layer.
const APPLETS: [&str; 14] = [
    "mkdir", "chmod", "chown", "id", "env", "printf", "cp", "ln", "touch", "rm", "mv", "test",
    "pwd", "tr",
];

/// busybox with a user and a group that have names, pushed to `registry` as `base/busy:1`.
fn base_image(registry: &Registry) -> String {
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
fn context(dir: &Path, containerfile: &str, files: &[(&str, &str)]) -> PathBuf {
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
struct Buildah {
    root: PathBuf,
    runroot: PathBuf,
}

impl Buildah {
    fn new(dir: &Path) -> Self {
        Buildah {
            root: dir.join("buildah/root"),
            runroot: dir.join("buildah/run"),
        }
    }

    fn command(&self) -> Command {
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
    fn build(&self, context: &Path, extra: &[&str]) -> (Tree, Value) {
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

    fn text(&self, args: &[&str]) -> String {
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
fn normalized(root: &Path) -> Tree {
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

/// imageadm's build of `context`, unpacked and snapshotted, with its config.
fn imageadm_build(world: &World, context: &Path, extra: &[&str]) -> (Tree, Value, String) {
    let mut args = vec!["--quiet", "build", "--format", "json", "-t", "built:1"];
    args.extend_from_slice(extra);
    let context_arg = context.display().to_string();
    args.push(&context_arg);
    let run = world.ok(&args);
    let report = run.json();
    let bundle = world.dir.path().join(format!("bundle-{}", rand_suffix()));
    world.ok(&[
        "--quiet",
        "unpack",
        "built:1",
        &bundle.display().to_string(),
    ]);
    let tree = normalized(&fs::canonicalize(bundle.join("rootfs")).unwrap());
    world.ok(&["--quiet", "rm-bundle", &bundle.display().to_string()]);
    let inspect = world.ok(&["inspect", "built:1"]).json();
    (
        tree,
        inspect["config"].clone(),
        report["id"].as_str().unwrap().to_string(),
    )
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The fields of a config both tools define (buildah's label naming itself left out).
fn comparable(config: &Value) -> Value {
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

fn setup() -> Option<(Registry, String)> {
    if !root_or_skip("imageadm build runs containers and sets owners") {
        return None;
    }
    require_tools(&["buildah", "docker-registry", "skopeo"]);
    let registry = Registry::open();
    let base = base_image(&registry);
    Some((registry, base))
}

#[test]
fn the_same_image_as_buildah() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        r#"# a comment
ARG BASE={base}
FROM $BASE AS tools
RUN mkdir -p /opt/tool && printf 'built\n' > /opt/tool/out.txt

FROM ${{BASE}}
ARG GREETING=hello
ENV APP_HOME=/srv/app \
    MODE="release build"
WORKDIR $APP_HOME
RUN echo "$GREETING from $(pwd)" > greeting.txt && chmod 640 greeting.txt
COPY files/ ./files/
COPY --chown=app:appgrp owned.txt /home/app/
COPY --chmod=700 run.sh /usr/local/bin/run.sh
COPY --from=tools /opt/tool/out.txt /opt/
RUN mkdir -p /var/lib/app && echo "$MODE" > /var/lib/app/mode && ln -s /var/lib/app/mode /var/lib/app/current
USER app
LABEL org.example.role=test "with space"="a b"
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/run.sh"]
CMD ["--serve"]
"#
    );
    let context = context(
        dir.path(),
        &containerfile,
        &[
            ("files/a.txt", "a\n"),
            ("files/sub/b.txt", "b\n"),
            ("files/skipped.log", "ignored\n"),
            ("owned.txt", "owned\n"),
            ("run.sh", "#!/bin/sh\necho run\n"),
            (".dockerignore", "files/*.log\n"),
        ],
    );
    let (ours, our_config, _) = imageadm_build(&World::new(), &context, &[]);
    let (mut theirs, their_config) = Buildah::new(dir.path()).build(&context, &[]);
    // buildah's RUN leaves /run behind, the mount point of its own tmpfs there (imageadm
    // mounts nothing on /run, so a step sees the image's).
    if !ours.contains_key("run")
        && theirs.get("run").is_some_and(|n| n.kind == 'd')
        && !theirs.keys().any(|k| k.starts_with("run/"))
    {
        theirs.remove("run");
    }
    if let Some(d) = diff("imageadm", &ours, "buildah", &theirs) {
        panic!("the roots differ:\n{d}");
    }
    assert_eq!(comparable(&our_config), comparable(&their_config));
    assert_eq!(
        ours["srv/app/greeting.txt"].content.as_deref(),
        Some("hello from /srv/app\n")
    );
    assert!(!ours.contains_key("srv/app/files/skipped.log"));
}

#[test]
fn a_second_build_is_all_cache_hits_and_the_same_image() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nENV X=1\nCMD [\"sh\"]\n"
    );
    let context = context(dir.path(), &containerfile, &[("a.txt", "first\n")]);
    let world = World::new();
    let build = |extra: &[&str]| -> Value {
        let mut args = vec!["--quiet", "build", "--format", "json", "-t", "cached:1"];
        args.extend_from_slice(extra);
        let context_arg = context.display().to_string();
        args.push(&context_arg);
        world.ok(&args).json()
    };
    let cached = |report: &Value| -> Vec<bool> {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|s| s["cached"].as_bool().unwrap())
            .collect()
    };
    let first = build(&[]);
    assert_eq!(cached(&first), [false; 5]);
    let second = build(&[]);
    assert_eq!(cached(&second), [true; 5]);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["manifest"], first["manifest"]);
    // A changed file: the COPY that reads it and every step after run again.
    fs::write(context.join("a.txt"), "second\n").unwrap();
    let third = build(&[]);
    assert_eq!(cached(&third), [true, false, false, false, false]);
    assert_ne!(third["id"], first["id"]);
    let bundle = world.dir.path().join("b3");
    world.ok(&[
        "--quiet",
        "unpack",
        "cached:1",
        &bundle.display().to_string(),
    ]);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/copy")).unwrap(),
        "second\n"
    );
    world.ok(&["--quiet", "rm-bundle", &bundle.display().to_string()]);
    let fourth = build(&["--no-cache"]);
    assert_eq!(cached(&fourth), [false; 5]);
}

#[test]
fn hostile_contexts_are_refused() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = World::new();
    let outside = dir.path().join("secret.txt");
    fs::write(&outside, "secret\n").unwrap();
    let cases = [
        (
            format!("FROM {base}\nCOPY ../secret.txt /x\n"),
            "outside the build context",
        ),
        (
            format!("FROM {base}\nCOPY up/secret.txt /x\n"),
            "no source file matches",
        ),
        (format!("FROM {base}\nRUN exit 3\n"), "exited with 3"),
        (format!("FROM {base}\nBOGUS x\n"), "line 2"),
    ];
    for (n, (containerfile, expected)) in cases.iter().enumerate() {
        let case = dir.path().join(format!("case{n}"));
        let context = context(&case, containerfile, &[]);
        std::os::unix::fs::symlink("../..", context.join("up")).unwrap();
        let run = world.run(&[
            "--quiet",
            "build",
            "-t",
            "hostile:1",
            &context.display().to_string(),
        ]);
        assert_ne!(run.code, 0, "{containerfile}");
        assert!(
            run.stderr.contains(expected),
            "{containerfile}: {}",
            run.stderr
        );
    }
    // A symlink in the context is copied as a symlink, never read through.
    let context = context(
        &dir.path().join("links"),
        &format!("FROM {base}\nCOPY . /ctx/\n"),
        &[],
    );
    std::os::unix::fs::symlink(&outside, context.join("leak")).unwrap();
    let (tree, _, _) = imageadm_build(&world, &context, &[]);
    let leak = tree
        .get("ctx/leak")
        .unwrap_or_else(|| panic!("no ctx/leak in {:?}", tree.keys().collect::<Vec<_>>()));
    assert_eq!(leak.kind, 'l');
    assert!(tree
        .values()
        .all(|n| n.content.as_deref() != Some("secret\n")));
}

/// Heredocs (buildah 1.28 has none: checked against docker's documented behaviour): a RUN
/// whose command is a heredoc runs it as the script, one that feeds a command gives it as
/// stdin, a COPY heredoc is a file; a quoted delimiter keeps `$` as it is.
#[test]
fn heredocs_as_docker_documents_them() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\nENV WHO=world\nRUN <<EOF\nmkdir -p /h\necho \"hello $WHO\" > /h/script\nEOF\n\
         RUN cat > /h/stdin <<'EOF'\nkept $WHO\nEOF\n\
         COPY <<EOF /h/copied\nfor $WHO\nEOF\n\
         COPY <<\"EOF\" /h/literal\nnot $WHO\nEOF\n"
    );
    let context = context(dir.path(), &containerfile, &[]);
    let (tree, _, _) = imageadm_build(&World::new(), &context, &[]);
    let text = |p: &str| tree[p].content.clone().unwrap_or_default();
    assert_eq!(text("h/script"), "hello world\n");
    assert_eq!(text("h/stdin"), "kept $WHO\n");
    assert_eq!(text("h/copied"), "for world\n");
    assert_eq!(text("h/literal"), "not $WHO\n");
    assert_eq!(tree["h/copied"].mode, 0o644);
}

/// A cache pushed to the loopback registry by one store is used by a build in a fresh one:
/// every step a hit, the same image id.
#[test]
fn a_cache_in_a_registry_serves_a_fresh_store() {
    let Some((registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\nRUN echo one > /one\nCOPY a.txt /a.txt\nENV X=1\nRUN cat /a.txt /one > /both\n"
    );
    let context = context(dir.path(), &containerfile, &[("a.txt", "shared\n")]);
    let context_arg = context.display().to_string();
    let cache_ref = registry.image_ref("cache/app:buildcache");
    let first = World::new();
    let made = first
        .ok(&[
            "--quiet",
            "build",
            "--format",
            "json",
            "--cache-to",
            &cache_ref,
            "-t",
            "app:1",
            &context_arg,
        ])
        .json();
    let fresh = World::new();
    let reused = fresh
        .ok(&[
            "--quiet",
            "build",
            "--format",
            "json",
            "--cache-from",
            &cache_ref,
            "-t",
            "app:1",
            &context_arg,
        ])
        .json();
    let cached: Vec<bool> = reused["steps"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|s| s["cached"].as_bool().unwrap())
        .collect();
    assert_eq!(cached, [true; 4]);
    assert_eq!(reused["id"], made["id"]);
    // The image runs as built: its files are there.
    let bundle = fresh.dir.path().join("b");
    fresh.ok(&["--quiet", "unpack", "app:1", &bundle.display().to_string()]);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/both")).unwrap(),
        "shared\none\n"
    );
    fresh.ok(&["--quiet", "rm-bundle", &bundle.display().to_string()]);
    // A name that is no cache is refused with a warning, and the build goes on.
    let other = World::new();
    let run = other.run(&["build", "--cache-from", &base, "-t", "app:2", &context_arg]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("is not a build cache"),
        "{}",
        run.stderr
    );
}

/// A base image whose /etc is a symlink to / (a hostile image): steps that write to /etc,
/// COPY into it and the runtime's own mounts all stay inside the image root.
#[test]
fn a_base_whose_etc_points_at_the_root_stays_inside() {
    let Some((registry, _base)) = setup() else {
        return;
    };
    let mut layer = LayerBuilder::new().dir("bin", 0o755).symlink("etc", "/");
    layer = layer.file("bin/busybox", fs::read("/bin/busybox").unwrap(), 0o755);
    for applet in ["sh", "echo", "cat"] {
        layer = layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    push(
        &registry,
        &ImageBuilder::new().layer(layer.build()),
        "hostile/etc:1",
        &PushOpts::default(),
    );
    let base = registry.image_ref("hostile/etc:1");
    let marker = format!("aurora-hostile-{}", rand_suffix());
    let dir = tempfile::tempdir().unwrap();
    let containerfile =
        format!("FROM {base}\nRUN echo inside > /etc/{marker}\nCOPY a.txt /etc/{marker}.copy\n");
    let context = context(dir.path(), &containerfile, &[("a.txt", "copied\n")]);
    let (tree, _, _) = imageadm_build(&World::new(), &context, &[]);
    assert_eq!(tree["etc"].kind, 'l');
    assert_eq!(tree[&marker].content.as_deref(), Some("inside\n"));
    assert_eq!(
        tree[&format!("{marker}.copy")].content.as_deref(),
        Some("copied\n")
    );
    assert!(
        !Path::new("/").join(&marker).exists(),
        "written on the host"
    );
    assert!(
        !Path::new("/").join(format!("{marker}.copy")).exists(),
        "copied onto the host"
    );
}

/// The build containers in a store (clones named `build-…`).
fn build_clones(root: &Path) -> Vec<String> {
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

/// A RUN that fills the disk fails with its status, and leaves no clone; the store builds
/// again afterwards.
#[test]
fn a_step_that_fills_the_disk_fails_cleanly() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    let world = World::with_root(small.join("store"));
    let full = context(
        &dir.path().join("full"),
        &format!("FROM {base}\nRUN dd if=/dev/zero of=/big bs=1M count=100\n"),
        &[],
    );
    let run = world.run(&[
        "--quiet",
        "--storage",
        "overlay",
        "build",
        "-t",
        "full:1",
        &full.display().to_string(),
    ]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("exited with"),
        "{}",
        run.stderr
    );
    assert!(
        build_clones(&world.root()).is_empty(),
        "{:?}",
        build_clones(&world.root())
    );
    let fine = context(
        &dir.path().join("fine"),
        &format!("FROM {base}\nRUN echo ok > /ok\n"),
        &[],
    );
    world.ok(&[
        "--quiet",
        "--storage",
        "overlay",
        "build",
        "-t",
        "fine:1",
        &fine.display().to_string(),
    ]);
}

/// A build killed in the middle of a step: the next build stops the step's container,
/// removes its clone and run directory, and builds.
#[test]
fn a_killed_build_leaves_nothing_the_next_one_keeps() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = World::new();
    let slow = context(
        &dir.path().join("slow"),
        &format!("FROM {base}\nRUN sleep 60\n"),
        &[],
    );
    let mut child = world
        .imageadm()
        .args(["--quiet", "build", "-t", "slow:1"])
        .arg(&slow)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run_dir = PathBuf::from(format!("/run/aurora/build-{}", child.id()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(run_dir.join("runtime").is_dir() && !build_clones(&world.root()).is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !build_clones(&world.root()).is_empty(),
        "the killed build's clone is there"
    );
    let quick = context(
        &dir.path().join("quick"),
        &format!("FROM {base}\nRUN echo ok > /ok\n"),
        &[],
    );
    world.ok(&[
        "--quiet",
        "build",
        "-t",
        "quick:1",
        &quick.display().to_string(),
    ]);
    assert!(
        build_clones(&world.root()).is_empty(),
        "{:?}",
        build_clones(&world.root())
    );
    assert!(
        !run_dir.exists(),
        "the killed build's run directory is gone"
    );
    let sleeping = Command::new("pgrep")
        .args(["-f", "^sleep 60$"])
        .output()
        .unwrap();
    assert!(sleeping.stdout.is_empty(), "the step's process still runs");
}

/// The static buildhelper: `$AURORA_BUILDHELPER` (test.sh builds it), else built now.
fn static_buildhelper() -> PathBuf {
    if let Some(path) = std::env::var_os("AURORA_BUILDHELPER") {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-buildhelper.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run build-buildhelper.sh");
    assert!(
        out.status.success(),
        "build-buildhelper.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The static podinit, as runz's tests find it.
fn static_podinit() -> PathBuf {
    if let Some(path) = std::env::var_os("AURORA_PODINIT") {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-podinit.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run build-podinit.sh");
    assert!(
        out.status.success(),
        "build-podinit.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// buildhelper in RUN steps: an archive extracted, an action, a service and a config map
/// defined; then the image run by runz with podinit, which lists and runs the action.
#[test]
fn buildhelper_writes_what_podinit_reads() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let helper = static_buildhelper();
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\n\
         COPY payload.tar.gz /tmp/\n\
         RUN buildhelper extract /tmp/payload.tar.gz /opt/payload && rm /tmp/payload.tar.gz\n\
         RUN buildhelper action add greet --description 'says hello' -- echo hello from an action\n\
         RUN buildhelper service add web --exec 'sleep 1000' --restart always\n\
         RUN buildhelper configmap add app --format toml --path /etc/app.toml\n"
    );
    let context = context(dir.path(), &containerfile, &[]);
    let payload = dir.path().join("payload");
    fs::create_dir_all(payload.join("sub")).unwrap();
    fs::write(payload.join("sub/data.txt"), "from the archive\n").unwrap();
    let packed = Command::new("tar")
        .arg("czf")
        .arg(context.join("payload.tar.gz"))
        .arg("-C")
        .arg(&payload)
        .arg("sub")
        .status()
        .unwrap();
    assert!(packed.success());
    let world = World::new();
    let run = world
        .imageadm()
        .env("AURORA_BUILDHELPER", &helper)
        .args(["--quiet", "build", "-t", "helped:1"])
        .arg(&context)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let bundle = world.dir.path().join("bundle");
    world.ok(&[
        "--quiet",
        "unpack",
        "helped:1",
        &bundle.display().to_string(),
    ]);
    let rootfs = fs::canonicalize(bundle.join("rootfs")).unwrap();
    assert_eq!(
        fs::read_to_string(rootfs.join("opt/payload/sub/data.txt")).unwrap(),
        "from the archive\n"
    );
    // podinit's own loaders accept what buildhelper wrote.
    let services =
        aurora_podinit::services::ServicesFile::load(&rootfs.join("etc/aurora/services.json"))
            .unwrap();
    assert_eq!(
        services
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["web"]
    );
    assert!(rootfs.join("etc/aurora/configmaps.json").is_file());
    // podinit, as the container's init, runs the action the build defined.
    // podinit mounted as --init mounts it; its own `action` command as the process.
    let mut spec = aurora_bundle::read_bundle_config(&bundle).unwrap();
    aurora_bundle::init::inject(&mut spec, &static_podinit()).unwrap();
    let mut process = spec.process().clone().unwrap();
    let init = aurora_bundle::init::INIT_IN_CONTAINER.to_string();
    process.set_args(Some(vec![init, "action".into(), "greet".into()]));
    spec.set_process(Some(process));
    aurora_bundle::write_bundle_config(&bundle, &spec).unwrap();
    let runz = Path::new(env!("CARGO_BIN_EXE_imageadm")).with_file_name("runz");
    let out = Command::new(&runz)
        .arg("--root")
        .arg(world.dir.path().join("runz"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(format!("helped-{}", rand_suffix()))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from an action\n"
    );
    world.ok(&["--quiet", "rm-bundle", &bundle.display().to_string()]);
}
