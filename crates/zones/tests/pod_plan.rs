//! A pod → its zone's zonecfg file and podinit's services file, against golden files in
//! `golden/pod/` (`AURORA_UPDATE_GOLDEN=1` rewrites them), and the pods that are refused.

use std::fs;
use std::path::{Path, PathBuf};

use aurora_zones::pod::{
    plan_pod, ContainerRoot, PodContainer, PodDescription, PodError, PodNetwork, Process,
    RestartPolicy, User,
};
use aurora_zones::{Distribution, ZoneName};

fn process(args: &[&str], uid: u32, cwd: &str) -> Process {
    Process {
        terminal: false,
        user: Some(User {
            uid,
            gid: uid,
            umask: None,
            additional_gids: Vec::new(),
        }),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: vec!["PATH=/usr/bin:/bin".into(), "ROLE=test".into()],
        cwd: Some(cwd.into()),
        rlimits: Vec::new(),
        no_new_privileges: false,
    }
}

fn container(
    name: &str,
    root: ContainerRoot,
    restart: RestartPolicy,
    deps: &[&str],
) -> PodContainer {
    PodContainer {
        name: name.into(),
        root,
        process: process(&["/bin/sh", "-c", &format!("exec {name}d")], 1000, "/srv"),
        restart,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
    }
}

/// A native pod sharing the global zone's IP stack; its containers' roots are directories.
fn native_lofs() -> PodDescription {
    PodDescription {
        name: ZoneName::new("pod-shop").unwrap(),
        zonepath: "/zones/pod-shop".into(),
        hostname: None,
        brand: None,
        distribution: Distribution::OmniOs,
        network: None,
        cpus: None,
        memory: None,
        containers: vec![
            container(
                "web",
                ContainerRoot::Path("/var/lib/aurora/c/web/rootfs".into()),
                RestartPolicy::Always,
                &["db"],
            ),
            container(
                "db",
                ContainerRoot::Path("/var/lib/aurora/c/db/rootfs".into()),
                RestartPolicy::OnFailure(Some(3)),
                &[],
            ),
        ],
    }
}

/// An lx pod on a VNIC with CPU and memory caps; its containers' roots are ZFS clones.
fn lx_vnic_caps() -> PodDescription {
    PodDescription {
        name: ZoneName::new("pod-api").unwrap(),
        zonepath: "/zones/pod-api".into(),
        hostname: Some("api-1".into()),
        brand: Some("lx".into()),
        distribution: Distribution::OmniOs,
        network: Some(PodNetwork {
            link: "net0".into(),
            lower_link: Some("auto".into()),
            address: Some("10.0.0.5/24".into()),
            gateway: Some("10.0.0.1".into()),
            mac_address: None,
        }),
        cpus: Some(1.5),
        memory: Some(512 * 1024 * 1024),
        containers: vec![
            container(
                "api",
                ContainerRoot::Dataset("rpool/aurora/containers/api".into()),
                RestartPolicy::UnlessStopped,
                &["cache"],
            ),
            container(
                "cache",
                ContainerRoot::Dataset("rpool/aurora/containers/cache".into()),
                RestartPolicy::No,
                &[],
            ),
        ],
    }
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/pod")
        .join(name)
}

fn check(name: &str, got: &str) {
    let path = golden(name);
    if std::env::var_os("AURORA_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, got).unwrap();
        return;
    }
    let want = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} ({e}); AURORA_UPDATE_GOLDEN=1 writes it", path.display()));
    assert_eq!(got, want, "{} differs", path.display());
}

#[test]
fn pods_render_to_golden_zonecfg_and_services_files() {
    for (name, pod) in [
        ("native-lofs", native_lofs()),
        ("lx-vnic-caps", lx_vnic_caps()),
    ] {
        let plan = plan_pod(&pod).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&format!("{name}.zonecfg"), &plan.zonecfg());
        check(&format!("{name}.services.json"), &plan.services_json());
        let warnings: String = plan
            .zone
            .warnings
            .iter()
            .map(|w| format!("{w}\n"))
            .collect();
        check(&format!("{name}.warnings"), &warnings);
    }
}

#[test]
fn the_services_file_is_what_podinit_reads() {
    let plan = plan_pod(&lx_vnic_caps()).unwrap();
    let read = aurora_podinit::services::ServicesFile::from_slice(
        plan.services_json().as_bytes(),
        Path::new("/.aurora/services.json"),
    )
    .unwrap();
    assert_eq!(read, plan.services);
    let order: Vec<&str> = read
        .start_order()
        .unwrap()
        .into_iter()
        .map(|i| read.services[i].name.as_str())
        .collect();
    assert_eq!(order, ["cache", "api"]);
}

fn refused(pod: PodDescription) -> String {
    match plan_pod(&pod) {
        Ok(_) => panic!("planned a pod that must be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_pods_are_refused_with_the_field_named() {
    let mut cycle = native_lofs();
    cycle.containers[1].depends_on = vec!["web".into()];
    assert_eq!(
        refused(cycle),
        "pod pod-shop: containers: dependsOn has a cycle: web -> db -> web"
    );

    let mut unknown = native_lofs();
    unknown.containers[0].depends_on = vec!["cache".into()];
    assert_eq!(
        refused(unknown),
        "pod pod-shop: containers[0].dependsOn[0]: cache is not a service of this file"
    );

    let mut bad_name = native_lofs();
    bad_name.containers[0].name = "../web".into();
    assert!(refused(bad_name).starts_with("pod pod-shop: containers[0].name: \"../web\""));

    let mut twice = native_lofs();
    twice.containers[1].name = "web".into();
    twice.containers[0].depends_on.clear();
    assert_eq!(
        refused(twice),
        "pod pod-shop: containers[1].name: web is given twice"
    );

    let mut snapshot = lx_vnic_caps();
    snapshot.containers[1].root = ContainerRoot::Dataset("rpool/images/x@final".into());
    assert!(refused(snapshot).starts_with(
        "pod pod-api: containers[1].root: \"rpool/images/x@final\" is not a ZFS dataset name"
    ));

    let mut no_cpu = lx_vnic_caps();
    no_cpu.cpus = Some(0.0);
    assert_eq!(
        refused(no_cpu),
        "pod pod-api: cpus: 0 is not a positive number of CPUs"
    );

    let mut bad_link = lx_vnic_caps();
    if let Some(n) = bad_link.network.as_mut() {
        n.link = "net 0".into();
    }
    let err = refused(bad_link);
    assert!(err.contains("solaris.anet[0].linkname"), "{err}");

    let mut quote = native_lofs();
    quote.containers[0].root = ContainerRoot::Path("/var/lib/a\"b".into());
    let err = plan_pod(&quote).unwrap_err();
    assert!(matches!(err, PodError::Plan { .. }), "{err}");
    assert!(
        err.to_string().contains("no escape for a double quote"),
        "{err}"
    );
}
