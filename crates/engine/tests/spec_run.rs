//! The runtime specs `spec::apply` writes run: a busybox image with a volume (copied up from
//! the image), a read-only bind, a tmpfs, a hosts file, a read-only root and `--init`, run by
//! runz, runc and crun; what the container sees and writes is checked. Needs root.

use std::path::PathBuf;

use aurora_engine::spec::{self, SpecContext, UserdataFiles};
use aurora_engine::volume::Volumes;
use aurora_engine::{ContainerConfig, MountRequest};
use aurora_storage::volume::VolumeStorage;
use aurora_testkit::skip::skip;
use aurora_testkit::OciRuntime;

const IMAGE: &str = r#"{
  "architecture": "amd64", "os": "linux",
  "config": {
    "Env": ["PATH=/bin", "GREETING=hello"],
    "Cmd": ["sh"],
    "WorkingDir": "/work",
    "Volumes": {"/data": {}}
  },
  "rootfs": {"type": "layers", "diff_ids": []}
}"#;

const SCRIPT: &str = "echo uid=$(id -u) cwd=$(pwd) $GREETING $EXTRA; \
cat /data/seed; grep -c podadm-test /etc/hosts; cat /h/file; \
echo scratch > /t/f && echo tmpfs-ok; \
touch /not-allowed 2>/dev/null || echo root-read-only; \
echo written > /data/out; \
touch /h/x 2>/dev/null || echo bind-read-only; \
echo pid1=$(cat /proc/1/comm)";

/// A static podinit: it runs inside the container, without the host's libraries.
fn podinit() -> PathBuf {
    aurora_testkit::static_podinit()
}

fn run_with(runtime: OciRuntime) {
    let test = format!("specs_run_with_{}", runtime.name());
    if let Some(why) = runtime.unavailable() {
        skip(&test, why);
        return;
    }
    let bundle = tempfile::tempdir().unwrap();
    let rootfs = bundle.path().join("rootfs");
    aurora_testkit::write_busybox_rootfs(&rootfs);
    std::fs::create_dir_all(rootfs.join("data")).unwrap();
    std::fs::write(rootfs.join("data/seed"), "seeded by the image\n").unwrap();
    for dir in ["h", "t"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("file"), "from the host\n").unwrap();
    std::fs::write(
        host.path().join("hosts"),
        "127.0.0.1 localhost\n10.0.0.2 podadm-test\n",
    )
    .unwrap();

    let image: oci_spec::image::ImageConfiguration = serde_json::from_str(IMAGE).unwrap();
    let image_config = image.config().clone().unwrap();
    let config = ContainerConfig {
        image: "test".into(),
        command: vec!["sh".into(), "-c".into(), SCRIPT.into()],
        env: vec!["EXTRA=extra".into()],
        read_only: true,
        init: true,
        mounts: vec![
            MountRequest::Bind {
                source: host.path().to_path_buf(),
                destination: "/h".into(),
                options: vec![],
                read_only: true,
            },
            MountRequest::Tmpfs {
                destination: "/t".into(),
                options: vec!["size=1m".into()],
            },
        ],
        ..ContainerConfig::default()
    };
    let store = tempfile::tempdir().unwrap();
    let volumes = Volumes::open(store.path(), VolumeStorage::dir()).unwrap();
    let mounts = volumes
        .container_mounts(&config.mounts, &image_config, &rootfs)
        .unwrap();
    assert_eq!(mounts.anonymous.len(), 1, "the image's VOLUME /data");
    let ctx = SpecContext {
        container_id: "c".repeat(64),
        image: "test".into(),
        image_config,
        rootfs: rootfs.clone(),
        resolved_mounts: mounts.mounts.clone(),
        userdata: UserdataFiles {
            hosts: Some(host.path().join("hosts")),
            ..UserdataFiles::default()
        },
        init_binary: Some(podinit()),
        host_capabilities: spec::host_capabilities(),
        ..SpecContext::default()
    };
    let mut runtime_spec = aurora_bundle::convert(
        "test",
        &image,
        &rootfs,
        &aurora_bundle::Overrides::default(),
    )
    .unwrap()
    .spec;
    spec::apply(&mut runtime_spec, &config, &ctx).unwrap();
    aurora_bundle::write_bundle_config(bundle.path(), &runtime_spec).unwrap();
    let out = runtime.run_bundle(bundle.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{test}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "uid=0 cwd=/work hello extra\nseeded by the image\n1\nfrom the host\ntmpfs-ok\n\
         root-read-only\nbind-read-only\npid1=.aurora-init\n",
        "{test}"
    );
    let data = volumes.path(&mounts.anonymous[0]).unwrap();
    assert_eq!(
        std::fs::read_to_string(data.join("out")).unwrap(),
        "written\n"
    );
    assert!(!host.path().join("x").exists());
}

#[test]
fn specs_run_with_runz() {
    run_with(OciRuntime::Runz);
}

#[test]
fn specs_run_with_runc() {
    run_with(OciRuntime::Runc);
}

#[test]
fn specs_run_with_crun() {
    run_with(OciRuntime::Crun);
}
