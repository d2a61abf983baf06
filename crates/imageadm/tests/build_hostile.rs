//! `imageadm build` against hostile input and failures: contexts that reach out, a base image
//! whose /etc is the root, a step that fills the disk, a build killed mid-step; and
//! buildhelper's files, read back by podinit in a running container.
//!
//! Needs root, docker-registry and skopeo; skipped otherwise through `aurora_testkit::skip`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use aurora_testkit::{ImageBuilder, LayerBuilder, PushOpts};
use common::build::{
    build_clones, context, imageadm_build, rand_suffix, setup, static_buildhelper, static_podinit,
};
use common::{push, World};

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
    while !run_dir.join("runtime").is_dir() || build_clones(&world.root()).is_empty() {
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
    let out = run_bundle(&world, &bundle);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from an action\n"
    );
    // podinit as the container's init starts the image's service beside the process, and
    // stops it when the process ends (the container then exits with the process's status).
    let mut process = spec.process().clone().unwrap();
    let init = aurora_bundle::init::INIT_IN_CONTAINER.to_string();
    let show = "sleep 0.5; cat /.aurora/services/web.json; echo; cat /etc/app.toml; exit 3";
    process.set_args(Some(vec![
        init,
        "--".into(),
        "sh".into(),
        "-c".into(),
        show.into(),
    ]));
    // The config map the image defines, rendered from the container's environment.
    let mut env = process.env().clone().unwrap_or_default();
    env.push("AURORA_CM_APP_server__port=8080".into());
    process.set_env(Some(env));
    spec.set_process(Some(process));
    aurora_bundle::write_bundle_config(&bundle, &spec).unwrap();
    let started = std::time::Instant::now();
    let out = run_bundle(&world, &bundle);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, config) = text.split_once('\n').unwrap_or((&text, ""));
    let status: serde_json::Value = serde_json::from_str(status).unwrap();
    assert_eq!(status["state"], "running", "{status}");
    assert!(
        config.contains("[server]") && config.contains("port = \"8080\""),
        "{config}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the service was not stopped"
    );
    world.ok(&["--quiet", "rm-bundle", &bundle.display().to_string()]);
}

/// `runz run` of `bundle` (runz beside imageadm), its output captured.
fn run_bundle(world: &World, bundle: &Path) -> std::process::Output {
    let runz = Path::new(env!("CARGO_BIN_EXE_imageadm")).with_file_name("runz");
    Command::new(&runz)
        .arg("--root")
        .arg(world.dir.path().join("runz"))
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(format!("helped-{}", rand_suffix()))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}
