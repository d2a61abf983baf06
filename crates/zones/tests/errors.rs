//! Every rejection of [`aurora_zones::plan`]: each names the field and the value.

use aurora_zones::{plan, PlanError, PlanOptions, ZoneName, ZonePlan};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": { "user": { "uid": 0, "gid": 0 }, "args": ["/bin/app"], "cwd": "/" },
        "root": { "path": "root" },
        "linux": { "namespaces": [{ "type": "network" }] }
    })
}

fn options() -> PlanOptions {
    PlanOptions::new(ZoneName::new("ctr1").unwrap(), "/zones/ctr1", "/zones/ctr1")
}

fn try_plan_with(config: Value, options: &PlanOptions) -> Result<ZonePlan, PlanError> {
    let spec: Spec = serde_json::from_value(config).expect("a valid config.json");
    plan(&spec, options)
}

fn try_plan(config: Value) -> Result<ZonePlan, PlanError> {
    try_plan_with(config, &options())
}

/// `config` with `f` applied must fail, and the message must mention every one of `words`.
fn rejects(f: impl FnOnce(&mut Value), words: &[&str]) -> PlanError {
    let mut config = base();
    f(&mut config);
    let err = try_plan(config).expect_err("should be rejected");
    let msg = err.to_string();
    for w in words {
        assert!(msg.contains(w), "{msg:?} should mention {w:?}");
    }
    err
}

#[test]
fn the_base_is_accepted() {
    try_plan(base()).unwrap();
}

#[test]
fn root_must_be_the_zone_root() {
    let e = rejects(
        |c| c["root"]["path"] = json!("rootfs"),
        &["/zones/ctr1/rootfs", "/zones/ctr1/root"],
    );
    assert!(matches!(e, PlanError::RootNotInZonepath { .. }));
    rejects(
        |c| c["root"]["path"] = json!("/elsewhere/root"),
        &["/elsewhere/root"],
    );
    rejects(
        |c| c["root"]["path"] = json!("../ctr1/root"),
        &["root.path"],
    );
    // Equal after normalising: accepted.
    let mut c = base();
    c["root"]["path"] = json!("/zones/ctr1/./root/");
    try_plan(c).unwrap();
}

#[test]
fn no_root() {
    let e = rejects(
        |c| c.as_object_mut().unwrap().remove("root").map(drop).unwrap(),
        &["no root"],
    );
    assert!(matches!(e, PlanError::NoRoot { .. }));
}

#[test]
fn readonly_root() {
    let e = rejects(|c| c["root"]["readonly"] = json!(true), &["root.readonly"]);
    assert_eq!(e, PlanError::ReadonlyRoot);
}

#[test]
fn other_platforms() {
    let e = rejects(
        |c| c["windows"] = json!({ "layerFolders": ["C:\\layers"] }),
        &["windows"],
    );
    assert_eq!(e, PlanError::OtherPlatform { section: "windows" });
}

#[test]
fn id_mappings() {
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    let m = map.clone();
    rejects(
        move |c| {
            c["linux"]["uidMappings"] = m;
            c["linux"]["namespaces"] = json!([{ "type": "user" }]);
        },
        &["linux.uidMappings", "user namespaces"],
    );
    let m = map.clone();
    rejects(
        move |c| c["linux"]["gidMappings"] = m,
        &["linux.gidMappings"],
    );
    let e = rejects(
        move |c| {
            c["mounts"] = json!([{ "destination": "/data", "type": "bind", "source": "/d",
                                   "options": ["bind"], "uidMappings": map }])
        },
        &["mounts[0]"],
    );
    assert!(matches!(e, PlanError::IdMappings { .. }));
}

#[test]
fn joining_a_namespace() {
    let e = rejects(
        |c| c["linux"]["namespaces"] = json!([{ "type": "network", "path": "/proc/42/ns/net" }]),
        &["linux.namespaces", "net namespace", "/proc/42/ns/net"],
    );
    assert!(matches!(e, PlanError::JoinNamespace { .. }));
}

#[test]
fn brands() {
    for (brand, word) in [
        ("Bad Brand", "lower-case"),
        ("bhyve", "virtual machines"),
        ("", "lower-case"),
    ] {
        let b = brand.to_string();
        let e = rejects(
            move |c| c["annotations"] = json!({ "org.aurora.zone.brand": b }),
            &[word],
        );
        assert!(matches!(e, PlanError::Brand { .. }));
    }
    let mut o = options();
    o.brand = Some("kvm".into());
    assert!(matches!(
        try_plan_with(base(), &o),
        Err(PlanError::Brand { .. })
    ));
}

#[test]
fn ip_type_annotations() {
    rejects(
        |c| c["annotations"] = json!({ "org.aurora.zone.ip-type": "excl" }),
        &["org.aurora.zone.ip-type", "excl", "shared or exclusive"],
    );
    rejects(
        |c| c["annotations"] = json!({ "org.aurora.zone.ip-type": "shared" }),
        &["lx zones need exclusive IP"],
    );
    let e = rejects(
        |c| {
            c["annotations"] =
                json!({ "org.aurora.zone.ip-type": "shared", "org.aurora.zone.brand": "sparse" });
            c["solaris"] = json!({ "anet": [{ "linkname": "net0" }] });
        },
        &["exclusive IP"],
    );
    assert!(matches!(e, PlanError::Annotation { .. }));
}

#[test]
fn attr_names() {
    for (name, word) in [
        ("zonefoo", "reserved"),
        ("ZoneX", "reserved"),
        ("bad name", "letters"),
        ("", "letters"),
        ("kernel-version", "Aurora sets"),
    ] {
        let key = format!("org.aurora.zone.attr.{name}");
        let e = rejects(move |c| c["annotations"] = json!({ key: "v" }), &[word]);
        assert!(matches!(e, PlanError::AttrName { .. }), "{name}: {e}");
    }
}

#[test]
fn unwritable_values() {
    let e = rejects(
        |c| c["hostname"] = json!("a\"b"),
        &["hostname", "double quote"],
    );
    assert!(matches!(e, PlanError::Unwritable(_)));
    rejects(|c| c["hostname"] = json!("a\nb"), &["hostname", "newline"]);
    rejects(
        |c| c["mounts"] = json!([{ "destination": "/d", "type": "bind", "source": "/x\ny", "options": ["bind"] }]),
        &["mounts[0].source", "newline"],
    );
    rejects(
        |c| c["annotations"] = json!({ "org.aurora.zone.attr.note": "say \"hi\"" }),
        &["org.aurora.zone.attr.note", "double quote"],
    );
    rejects(
        |c| c["mounts"] = json!([{ "destination": "/d\"x", "type": "tmpfs", "source": "tmpfs" }]),
        &["mounts[0].destination"],
    );
}

#[test]
fn mounts() {
    let one = |m: Value| move |c: &mut Value| c["mounts"] = json!([m]);
    let e = rejects(
        one(json!({ "destination": "/mnt", "type": "nfs", "source": "srv:/x" })),
        &["mounts[0]", "/mnt", "nfs"],
    );
    assert!(matches!(e, PlanError::Mount { .. }));
    rejects(
        one(json!({ "destination": "/mnt", "type": "ext4", "source": "/dev/sda1" })),
        &["ext4"],
    );
    rejects(
        one(json!({ "destination": "relative", "type": "tmpfs", "source": "tmpfs" })),
        &["mounts[0].destination", "absolute"],
    );
    rejects(
        one(json!({ "destination": "/a/../b", "type": "tmpfs", "source": "tmpfs" })),
        &["mounts[0].destination", ".."],
    );
    rejects(
        one(json!({ "destination": "/", "type": "bind", "source": "/x", "options": ["bind"] })),
        &["root"],
    );
    rejects(
        one(json!({ "destination": "/d", "type": "bind", "options": ["bind"] })),
        &["needs a source"],
    );
    rejects(
        one(
            json!({ "destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=50%"] }),
        ),
        &["size=50%"],
    );
    rejects(
        one(
            json!({ "destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["mode=rwx"] }),
        ),
        &["mode=rwx", "octal"],
    );
    rejects(
        |c| {
            c["mounts"] = json!([
                { "destination": "/d", "type": "tmpfs", "source": "tmpfs" },
                { "destination": "/d/", "type": "bind", "source": "/x", "options": ["bind"] }
            ])
        },
        &["mounts[1]", "mounts[0]", "same destination"],
    );
}

#[test]
fn resources() {
    let res = |r: Value| move |c: &mut Value| c["linux"]["resources"] = r;
    rejects(
        res(json!({ "memory": { "limit": -5 } })),
        &["linux.resources.memory.limit", "-5"],
    );
    rejects(
        res(json!({ "memory": { "swap": -2 } })),
        &["linux.resources.memory.swap", "-2"],
    );
    rejects(
        res(json!({ "memory": { "limit": 1073741824, "swap": 536870912 } })),
        &["linux.resources.memory.swap", "536870912", "1073741824"],
    );
    rejects(
        res(json!({ "cpu": { "quota": 1000, "period": 0 } })),
        &["linux.resources.cpu.period"],
    );
    rejects(
        res(json!({ "cpu": { "cpus": "3-1" } })),
        &["linux.resources.cpu.cpus", "3-1"],
    );
    rejects(
        res(json!({ "cpu": { "cpus": "zero" } })),
        &["linux.resources.cpu.cpus", "zero"],
    );
    let sol = |s: Value| move |c: &mut Value| c["solaris"] = s;
    rejects(
        sol(json!({ "cappedCPU": { "ncpus": "lots" } })),
        &["solaris.cappedCPU.ncpus", "lots"],
    );
    rejects(
        sol(json!({ "cappedCPU": { "ncpus": "0" } })),
        &["solaris.cappedCPU.ncpus"],
    );
    rejects(
        sol(json!({ "cappedMemory": { "physical": "1 GB" } })),
        &["capped-memory.physical", "1 GB"],
    );
    rejects(
        sol(json!({ "cappedMemory": { "swap": "x" } })),
        &["capped-memory.swap"],
    );
    rejects(
        sol(json!({ "maxShmMemory": "big" })),
        &["solaris.maxShmMemory", "big"],
    );
    rejects(
        sol(json!({ "limitpriv": "default;reboot" })),
        &["solaris.limitpriv", "default;reboot"],
    );
}

#[test]
fn milestone() {
    let mut c = base();
    c.as_object_mut().unwrap().remove("linux");
    c["solaris"] = json!({ "milestone": "svc:/milestone/multi-user default" });
    let e = try_plan(c).unwrap_err();
    assert!(e.to_string().contains("solaris.milestone"), "{e}");
}

#[test]
fn networks() {
    let anet = |a: Value| move |c: &mut Value| c["solaris"] = json!({ "anet": [a] });
    rejects(
        anet(json!({ "linkname": "net 0" })),
        &["solaris.anet[0].linkname", "data-link"],
    );
    rejects(
        anet(json!({ "linkname": "net0", "lowerLink": "igb" })),
        &["solaris.anet[0].lowerLink", "igb"],
    );
    rejects(
        anet(json!({ "linkname": "net0", "macAddress": "02:08:20" })),
        &["solaris.anet[0].macAddress"],
    );
    rejects(
        anet(json!({ "linkname": "net0", "defrouter": "10.0.0.1" })),
        &["solaris.anet[0].defrouter", "allowedAddress"],
    );
    rejects(
        |c| c["annotations"] = json!({ "org.aurora.zone.physical": "-x" }),
        &["org.aurora.zone.physical"],
    );
}

#[test]
fn devices() {
    rejects(
        |c| {
            c["linux"]["devices"] =
                json!([{ "path": "/tmp/fuse", "type": "c", "major": 10, "minor": 229 }])
        },
        &["linux.devices[0].path", "/dev"],
    );
}

#[test]
fn kernel_version() {
    rejects(
        |c| c["annotations"] = json!({ "org.aurora.zone.kernel-version": "latest" }),
        &["org.aurora.zone.kernel-version", "latest"],
    );
    let mut o = options();
    o.lx_kernel_version = "4".into();
    let e = try_plan_with(base(), &o).unwrap_err();
    assert!(e.to_string().contains("lx_kernel_version"), "{e}");
}

#[test]
fn option_paths() {
    type Change = fn(&mut PlanOptions);
    let cases: [(Change, &str); 5] = [
        (|o| o.zonepath = "zones/ctr1".into(), "zonepath"),
        (|o| o.zonepath = "/".into(), "zonepath"),
        (|o| o.podinit = "/my init".into(), "podinit"),
        (|o| o.podinit = "podinit".into(), "podinit"),
        (|o| o.podinit_status = "/a/../b".into(), "podinit_status"),
    ];
    for (change, word) in cases {
        let mut o = options();
        change(&mut o);
        let e = try_plan_with(base(), &o).unwrap_err();
        assert!(e.to_string().contains(word), "{e}");
    }
}
