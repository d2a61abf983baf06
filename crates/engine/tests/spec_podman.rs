//! Side by side with podman: the same image and the same flags through `podman create` (its
//! config.json, written when the container is initialised) and through podadm's parsers and
//! `spec::apply`; the fields where podman's choices are the spec's must agree: capabilities,
//! environment, user, working directory, command, mounts for volumes, binds and tmpfs,
//! limits, the read-only root and `--privileged`. The deliberate differences (listed in
//! `spec`'s documentation) are left out of the comparison: `container=podman`,
//! `HOSTNAME` (an ID), `tmpcopyup`, volume sources, seccomp. Needs root and podman.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aurora_engine::spec::flags::{
    parse_capability, parse_cpus, parse_entrypoint, parse_memory, parse_mount_flag,
    parse_pids_limit, parse_tmpfs_flag, parse_volume_flag,
};
use aurora_engine::spec::{self, ResolvedMount, SpecContext};
use aurora_engine::{ContainerConfig, MountRequest, NetworkMode};
use aurora_layers::{apply_layer, ApplyOptions, Compression};
use aurora_testkit::skip::{root_or_skip, tools_or_skip};
use aurora_testkit::{ImageBuilder, LayerBuilder};
use serde_json::Value;

/// testkit's podman, with what these comparisons ask of it.
struct Podman(aurora_testkit::Podman);

impl Podman {
    fn new() -> Self {
        Podman(aurora_testkit::Podman::new())
    }

    fn command(&self, args: &[&str]) -> std::process::Output {
        self.0.command(args).output().unwrap()
    }

    fn check(&self, args: &[&str]) -> String {
        let out = self.command(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The config.json podman writes for `flags` on `image` (written when the container is
    /// initialised, before the runtime runs: a runtime that then fails does not matter).
    fn config(&self, image: &str, flags: &[&str], command: &[&str]) -> Value {
        // This host's hard limits are below podman's defaults, and root here cannot raise them.
        let mut args = vec![
            "create",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        args.extend(flags);
        args.push(image);
        args.extend(command);
        let id = self.check(&args);
        let _ = self.command(&["init", &id]);
        let path = self
            .0
            .storage()
            .join("vfs-containers")
            .join(&id)
            .join("userdata/config.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let _ = self.command(&["rm", "-f", &id]);
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// The test image: busybox with a user, a data directory and an environment.
struct TestImage {
    _dir: tempfile::TempDir,
    rootfs: PathBuf,
    config: oci_spec::image::ImageConfiguration,
}

fn test_image(podman: &Podman) -> (TestImage, String) {
    let dir = tempfile::Builder::new()
        .prefix("aurora-spec-")
        .tempdir()
        .unwrap();
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    let mut layer = LayerBuilder::new()
        .dir("bin", 0o755)
        .dir("etc", 0o755)
        .dir("root", 0o700)
        .dir("tmp", 0o1777)
        .file("bin/busybox", busybox, 0o755);
    for applet in ["sh", "ls", "cat", "echo", "true"] {
        layer = layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    let layer = layer
        .dir("srv", 0o755)
        .file("srv/index.html", "hi\n", 0o644)
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
            0o644,
        )
        .file("etc/group", "root:x:0:\napp:x:1000:\n", 0o644)
        .build();
    let tar = layer.tar().to_vec();
    // podman names an `oci:` image after its path, which must be lowercase.
    let layout = dir.path().join("layout");
    let lowercase = std::env::temp_dir().join(format!("aurora-spec-{}", std::process::id()));
    let _ = std::fs::remove_file(&lowercase);
    std::os::unix::fs::symlink(&layout, &lowercase).unwrap();
    let built = ImageBuilder::new()
        .layer(layer)
        .cmd(&["sh", "-c", "echo hi"])
        .env("GREETING=hello")
        .working_dir("/srv")
        .write(&layout, "v1");
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    apply_layer(
        &rootfs,
        &tar[..],
        Compression::None,
        &ApplyOptions::new("busybox"),
    )
    .unwrap();
    let id = podman.check(&["pull", "-q", &format!("oci:{}:v1", lowercase.display())]);
    let _ = std::fs::remove_file(&lowercase);
    let image = TestImage {
        _dir: dir,
        rootfs,
        config: serde_json::from_slice(&built.config).unwrap(),
    };
    (image, id.lines().last().unwrap().to_string())
}

/// podadm's config.json for the same flags, parsed by podadm's own parsers.
fn ours(image: &TestImage, flags: &[&str], command: &[&str]) -> Value {
    let mut config = ContainerConfig {
        image: "test".into(),
        command: command.iter().map(|c| c.to_string()).collect(),
        network: NetworkMode::None,
        ..ContainerConfig::default()
    };
    let mut args = flags.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap().to_string();
        match *flag {
            "-e" => config.env.push(value()),
            "-w" => config.workdir = Some(value()),
            "-u" => config.user = Some(value()),
            "--hostname" => config.hostname = Some(value()),
            "--entrypoint" => config.entrypoint = Some(parse_entrypoint(&value()).unwrap()),
            "--cap-add" => config
                .cap_add
                .push(parse_capability("--cap-add", &value()).unwrap()),
            "--cap-drop" => config
                .cap_drop
                .push(parse_capability("--cap-drop", &value()).unwrap()),
            "--privileged" => config.privileged = true,
            "--read-only" => config.read_only = true,
            "-t" => config.terminal = true,
            "--memory" => config.resources.memory = Some(parse_memory(&value()).unwrap()),
            "--cpus" => config.resources.cpus = Some(parse_cpus(&value()).unwrap()),
            "--pids-limit" => {
                config.resources.pids_limit = Some(parse_pids_limit(&value()).unwrap())
            }
            "-v" => config.mounts.push(parse_volume_flag(&value()).unwrap()),
            "--mount" => config.mounts.push(parse_mount_flag(&value()).unwrap()),
            "--tmpfs" => config.mounts.push(parse_tmpfs_flag(&value()).unwrap()),
            other => panic!("the test does not know {other}"),
        }
    }
    let ctx = SpecContext {
        container_id: "f".repeat(64),
        image: "test".into(),
        image_config: image.config.config().clone().unwrap(),
        rootfs: image.rootfs.clone(),
        resolved_mounts: config
            .mounts
            .iter()
            .map(|m| {
                let data = matches!(m, MountRequest::Volume { .. })
                    .then(|| PathBuf::from("/volumes/x/_data"));
                ResolvedMount::from_request(m, data.as_deref()).unwrap()
            })
            .collect(),
        host_capabilities: spec::host_capabilities(),
        ..SpecContext::default()
    };
    let converted = aurora_bundle::convert(
        "test",
        &image.config,
        &image.rootfs,
        &aurora_bundle::Overrides::default(),
    )
    .unwrap();
    let mut runtime = converted.spec;
    spec::apply(&mut runtime, &config, &ctx).unwrap();
    aurora_bundle::canonical_value(&runtime).unwrap()
}

/// The fields that must agree, in a comparable form.
fn agreed(config: &Value, volume_root: &str) -> BTreeMap<&'static str, Value> {
    let process = &config["process"];
    let mut fields = BTreeMap::new();
    fields.insert("args", process["args"].clone());
    fields.insert("cwd", process["cwd"].clone());
    fields.insert("uid", process["user"]["uid"].clone());
    fields.insert("gid", process["user"]["gid"].clone());
    fields.insert(
        "terminal",
        Value::Bool(process["terminal"].as_bool().unwrap_or(false)),
    );
    let env: BTreeSet<String> = process["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .filter(|e| !e.starts_with("container=") && !e.starts_with("HOSTNAME="))
        .collect();
    fields.insert("env", serde_json::to_value(env).unwrap());
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        let mut caps: Vec<String> = process["capabilities"][set]
            .as_array()
            .map(|a| a.iter().map(|c| c.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        caps.sort();
        fields.insert(set, serde_json::to_value(caps).unwrap());
    }
    fields.insert(
        "readonly",
        Value::Bool(config["root"]["readonly"].as_bool().unwrap_or(false)),
    );
    let resources = &config["linux"]["resources"];
    fields.insert("memory", resources["memory"].clone());
    fields.insert("cpu", resources["cpu"].clone());
    fields.insert("pids", resources["pids"].clone());
    fields.insert("device-rules", resources["devices"].clone());
    fields.insert(
        "masked",
        Value::Bool(config["linux"]["maskedPaths"].is_array()),
    );
    // The mounts the flags asked for (and the read-only root's scratch tmpfs).
    let defaults = [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/shm",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/run/.containerenv",
    ];
    let mut mounts = BTreeMap::new();
    for mount in config["mounts"].as_array().unwrap() {
        let dest = mount["destination"].as_str().unwrap();
        if defaults.contains(&dest) {
            continue;
        }
        let mut options: Vec<String> = mount["options"]
            .as_array()
            .map(|a| a.iter().map(|o| o.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        options.retain(|o| o != "tmpcopyup");
        options.sort();
        let source = mount["source"].as_str().unwrap_or_default();
        // Volume paths differ by store; the rest is compared as is.
        let source = if source.starts_with(volume_root) {
            "<volume>"
        } else {
            source
        };
        mounts.insert(
            dest.to_string(),
            serde_json::json!({"type": mount["type"], "source": source, "options": options}),
        );
    }
    fields.insert("mounts", serde_json::to_value(mounts).unwrap());
    fields
}

#[test]
fn podadm_and_podman_agree_on_the_runtime_spec() {
    let test = "podadm_and_podman_agree_on_the_runtime_spec";
    if !root_or_skip(test) || !tools_or_skip(test, &["podman", "busybox"]) {
        return;
    }
    let podman = Podman::new();
    let (image, id) = test_image(&podman);
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().to_string_lossy().into_owned();
    let bind_ro = format!("{host_dir}:/h:ro");
    let bind_mount = format!("type=bind,source={host_dir},destination=/h2,readonly");
    let volume_root = podman
        .0
        .storage()
        .join("volumes")
        .to_string_lossy()
        .into_owned();
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        ("image defaults", vec![], vec![]),
        (
            "env, user, workdir, hostname, capabilities",
            vec![
                "-e",
                "A=1",
                "-e",
                "GREETING=bye",
                "-e",
                "PATH=/x",
                "-w",
                "/etc",
                "-u",
                "1000",
                "--hostname",
                "box",
                "--cap-add",
                "net_admin",
                "--cap-add",
                "SYS_TIME",
                "--cap-drop",
                "chown",
                "--cap-drop",
                "CAP_KILL",
            ],
            vec!["ls"],
        ),
        (
            "root with capabilities",
            vec!["--cap-add", "NET_RAW", "--cap-drop", "setuid", "-u", "root"],
            vec![],
        ),
        (
            "all capabilities dropped",
            vec!["--cap-drop", "ALL", "--cap-add", "SYS_ADMIN"],
            vec![],
        ),
        (
            "entrypoint clears the command",
            vec!["--entrypoint", "/bin/echo"],
            vec![],
        ),
        (
            "empty entrypoint and a command",
            vec!["--entrypoint", "", "-t"],
            vec!["ls", "/"],
        ),
        (
            "volumes, binds and tmpfs",
            vec![
                "-v",
                "named1:/n",
                "-v",
                "/anon",
                "-v",
                &bind_ro,
                "--mount",
                &bind_mount,
                "--tmpfs",
                "/t",
                "--tmpfs",
                "/t2:size=64m,mode=1777",
                "--mount",
                "type=tmpfs,destination=/t3,tmpfs-size=1m",
            ],
            vec![],
        ),
        ("read-only root", vec!["--read-only"], vec![]),
        (
            "limits",
            vec!["--memory", "512m", "--cpus", "1.5", "--pids-limit", "100"],
            vec![],
        ),
        ("privileged", vec!["--privileged"], vec![]),
    ];
    let mut differences = Vec::new();
    for (what, flags, command) in &cases {
        let theirs = agreed(&podman.config(&id, flags, command), &volume_root);
        let mine = agreed(&ours(&image, flags, command), "/volumes/");
        // The comparison compares something: the mounts the flags asked for are there.
        let asked = flags
            .iter()
            .filter(|f| ["-v", "--mount", "--tmpfs"].contains(f))
            .count()
            + if flags.contains(&"--read-only") { 3 } else { 0 };
        assert_eq!(
            theirs["mounts"].as_object().unwrap().len(),
            asked,
            "{what}: {theirs:?}"
        );
        assert!(!theirs["bounding"].as_array().unwrap().is_empty() || flags.contains(&"ALL"));
        for (field, value) in &theirs {
            if mine.get(field) != Some(value) {
                differences.push(format!(
                    "{what}: {field}: podman {value}, podadm {}",
                    mine.get(field).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn host_capabilities_are_the_bounding_set() {
    let caps = spec::host_capabilities().expect("/proc/self/status has CapBnd");
    assert!(caps
        .iter()
        .all(|c| spec::ALL_CAPABILITIES.contains(&c.as_str())));
    assert!(!caps.is_empty());
}
