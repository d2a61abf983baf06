//! Golden tests of `spec::apply`: each case turns a test image into a runtime spec with
//! `aurora_bundle::convert`, applies a container configuration, and compares the canonical
//! JSON with `tests/data/spec/NAME.json` (or the error with `NAME.error.txt`). Run with
//! `AURORA_UPDATE_GOLDEN=1` to rewrite them.

use std::path::{Path, PathBuf};

use aurora_engine::spec::{self, MountSource, ResolvedMount, SpecContext, UserdataFiles};
use aurora_engine::{ContainerConfig, MountRequest, NetworkMode, Resources};
use oci_spec::image::ImageConfiguration;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const IMAGE: &str = r#"{
  "architecture": "amd64", "os": "linux",
  "config": {
    "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
    "Entrypoint": ["/entrypoint.sh"],
    "Cmd": ["serve", "--port", "80"],
    "WorkingDir": "/app",
    "StopSignal": "SIGQUIT",
    "Volumes": {"/var/lib/data": {}},
    "Labels": {"org.example.vendor": "aurora"}
  },
  "rootfs": {"type": "layers", "diff_ids": []}
}"#;

/// A root filesystem with users and the directories the cases need (but not `/app`, which
/// the image's WorkingDir names: apply creates it).
fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(dir.path().join("srv")).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
    )
    .unwrap();
    dir
}

fn context(rootfs: &Path) -> SpecContext {
    let image: ImageConfiguration = serde_json::from_str(IMAGE).unwrap();
    SpecContext {
        container_id: ID.into(),
        image: "example/app:1".into(),
        image_config: image.config().clone().unwrap(),
        rootfs: rootfs.to_path_buf(),
        ..SpecContext::default()
    }
}

fn userdata() -> UserdataFiles {
    let dir = PathBuf::from("/var/lib/aurora/podadm/containers")
        .join(ID)
        .join("userdata");
    UserdataFiles {
        hosts: Some(dir.join("hosts")),
        resolv_conf: Some(dir.join("resolv.conf")),
        hostname: Some(dir.join("hostname")),
    }
}

fn volume_path(name: &str) -> PathBuf {
    PathBuf::from("/var/lib/aurora/podadm/volumes")
        .join(name)
        .join("_data")
}

/// What a case changes in the context.
type ContextChange = Box<dyn Fn(&mut SpecContext)>;

/// The cases: a name, the configuration and the context changes.
fn cases() -> Vec<(&'static str, ContainerConfig, ContextChange)> {
    let none = || -> ContextChange { Box::new(|_| {}) };
    let base = ContainerConfig {
        image: "example/app:1".into(),
        ..ContainerConfig::default()
    };
    vec![
        ("defaults", base.clone(), none()),
        (
            "command-env-user-workdir",
            ContainerConfig {
                command: vec!["shell".into()],
                env: vec!["LANG=de_DE.UTF-8".into(), "EXTRA=1".into()],
                workdir: Some("/srv".into()),
                user: Some("app".into()),
                terminal: true,
                hostname: Some("web".into()),
                ..base.clone()
            },
            none(),
        ),
        (
            "entrypoint-clears-cmd",
            ContainerConfig {
                entrypoint: Some(vec!["/bin/ls".into(), "-l".into()]),
                ..base.clone()
            },
            none(),
        ),
        (
            "entrypoint-empty-with-command",
            ContainerConfig {
                entrypoint: Some(vec![]),
                command: vec!["echo".into(), "hi".into()],
                ..base.clone()
            },
            none(),
        ),
        (
            "caps-add-drop",
            ContainerConfig {
                cap_add: vec!["net_admin".into(), "CAP_SYS_TIME".into()],
                cap_drop: vec!["chown".into(), "CAP_KILL".into()],
                ..base.clone()
            },
            none(),
        ),
        (
            "caps-non-root-user",
            ContainerConfig {
                user: Some("1000:50".into()),
                cap_add: vec!["NET_ADMIN".into()],
                cap_drop: vec!["ALL".into()],
                ..base.clone()
            },
            none(),
        ),
        (
            "privileged",
            ContainerConfig {
                privileged: true,
                cap_drop: vec!["SYS_MODULE".into()],
                ..base.clone()
            },
            Box::new(|ctx: &mut SpecContext| {
                ctx.host_capabilities = Some(
                    ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_SYS_MODULE"]
                        .map(String::from)
                        .to_vec(),
                );
            }),
        ),
        (
            "mounts-read-only-init",
            ContainerConfig {
                read_only: true,
                init: true,
                mounts: vec![],
                ..base.clone()
            },
            Box::new(|ctx: &mut SpecContext| {
                let requests = [
                    MountRequest::Volume {
                        name: Some("cache".into()),
                        destination: "/var/cache/app".into(),
                        read_only: false,
                    },
                    MountRequest::Bind {
                        source: "/srv/site".into(),
                        destination: "/usr/share/site".into(),
                        options: vec!["z".into(), "nosuid".into()],
                        read_only: true,
                    },
                    MountRequest::Tmpfs {
                        destination: "/tmp".into(),
                        options: vec!["size=64m".into(), "mode=1777".into()],
                    },
                    MountRequest::Tmpfs {
                        destination: "/dev/shm".into(),
                        options: vec!["size=1g".into()],
                    },
                ];
                ctx.resolved_mounts = requests
                    .iter()
                    .map(|r| {
                        let path =
                            matches!(r, MountRequest::Volume { .. }).then(|| volume_path("cache"));
                        ResolvedMount::from_request(r, path.as_deref()).unwrap()
                    })
                    .collect();
                ctx.resolved_mounts.push(ResolvedMount::volume(
                    &volume_path("anon0"),
                    "/var/lib/data",
                    false,
                ));
                ctx.userdata = userdata();
                ctx.init_binary = Some("/usr/libexec/aurora/podinit".into());
            }),
        ),
        (
            "resources-labels-stop-signal",
            ContainerConfig {
                resources: Resources {
                    memory: Some(512 << 20),
                    cpus: Some(1.5),
                    pids_limit: Some(100),
                },
                labels: [("tier".to_string(), "web".to_string())].into(),
                stop_signal: Some("kill".into()),
                ..base.clone()
            },
            Box::new(|ctx: &mut SpecContext| {
                ctx.cgroups_path = Some(format!("/podadm/{ID}"));
            }),
        ),
        (
            "unlimited-pids",
            ContainerConfig {
                resources: Resources {
                    pids_limit: Some(-1),
                    ..Resources::default()
                },
                ..base.clone()
            },
            none(),
        ),
        (
            "network-namespace-path",
            ContainerConfig {
                network: NetworkMode::Bridge(vec!["podadm".into()]),
                ..base.clone()
            },
            Box::new(|ctx: &mut SpecContext| {
                ctx.netns = Some(PathBuf::from("/run/aurora/netns").join(ID));
                ctx.userdata = userdata();
            }),
        ),
        (
            "network-host",
            ContainerConfig {
                network: NetworkMode::Host,
                ..base.clone()
            },
            none(),
        ),
        (
            "error-workdir-missing",
            ContainerConfig {
                workdir: Some("/nowhere".into()),
                ..base.clone()
            },
            none(),
        ),
        (
            "error-workdir-relative",
            ContainerConfig {
                workdir: Some("srv".into()),
                ..base.clone()
            },
            none(),
        ),
        (
            "error-unknown-user",
            ContainerConfig {
                user: Some("nobody".into()),
                ..base.clone()
            },
            none(),
        ),
        (
            "error-no-command",
            ContainerConfig {
                entrypoint: Some(vec![]),
                ..base.clone()
            },
            none(),
        ),
        (
            "error-init-missing",
            ContainerConfig {
                init: true,
                ..base.clone()
            },
            none(),
        ),
        (
            "error-duplicate-destination",
            base.clone(),
            Box::new(|ctx: &mut SpecContext| {
                ctx.resolved_mounts = vec![
                    ResolvedMount::volume(&volume_path("a"), "/data", false),
                    ResolvedMount {
                        source: MountSource::Tmpfs,
                        destination: "/data/".into(),
                        options: vec![],
                    },
                ];
            }),
        ),
        (
            "error-bad-env",
            ContainerConfig {
                env: vec!["=x".into()],
                ..base.clone()
            },
            none(),
        ),
    ]
}

fn run_case(
    config: &ContainerConfig,
    change: &dyn Fn(&mut SpecContext),
) -> (Result<String, String>, tempfile::TempDir) {
    let root = rootfs();
    let mut ctx = context(root.path());
    change(&mut ctx);
    let image: ImageConfiguration = serde_json::from_str(IMAGE).unwrap();
    let converted = aurora_bundle::convert(
        &ctx.image,
        &image,
        root.path(),
        &aurora_bundle::Overrides::default(),
    )
    .unwrap();
    let mut runtime = converted.spec;
    let result = spec::apply(&mut runtime, config, &ctx).map(|warnings| {
        let mut text = String::from_utf8(aurora_bundle::to_json_pretty(&runtime).unwrap()).unwrap();
        for warning in warnings {
            text.push_str(&format!("// warning: {warning}\n"));
        }
        text
    });
    let result = result
        .map_err(|e| format!("{e}\n").replace(&root.path().display().to_string(), "<rootfs>"));
    (result, root)
}

#[test]
fn golden_specs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spec");
    let update = std::env::var("AURORA_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for (name, config, change) in cases() {
        let (result, _root) = run_case(&config, change.as_ref());
        let (file, actual) = match result {
            Ok(json) => (dir.join(format!("{name}.json")), json),
            Err(message) => (dir.join(format!("{name}.error.txt")), message),
        };
        if update {
            std::fs::write(&file, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(expected) if expected == actual => {}
            Ok(_) => failures.push(format!(
                "{name}: differs from {}:\n{actual}",
                file.display()
            )),
            Err(e) => failures.push(format!("{name}: {}: {e}\n{actual}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_images_working_directory_is_created_in_the_root() {
    let base = ContainerConfig::default();
    let (result, root) = run_case(&base, &|_| {});
    result.unwrap();
    let app = root.path().join("app");
    let meta = std::fs::metadata(&app).unwrap();
    assert!(meta.is_dir());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn annotations_are_written_and_win_over_labels_of_the_same_key() {
    let pairs = |items: &[(&str, &str)]| {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let config = ContainerConfig {
        image: "example/app:1".into(),
        labels: pairs(&[("a", "label"), ("b", "label")]),
        annotations: pairs(&[("b", "annotation"), ("c", "annotation")]),
        ..ContainerConfig::default()
    };
    let (result, _root) = run_case(&config, &|_| {});
    let spec: serde_json::Value = serde_json::from_str(&result.unwrap()).unwrap();
    let annotations = &spec["annotations"];
    assert_eq!(annotations["a"], "label");
    assert_eq!(annotations["b"], "annotation");
    assert_eq!(annotations["c"], "annotation");
}
