//! podman's flag syntax: what parses, into what, and errors that quote the text.

use std::path::PathBuf;

use aurora_engine::spec::flags::{
    parse_capability, parse_cpus, parse_entrypoint, parse_env, parse_env_file, parse_label,
    parse_memory, parse_mount_flag, parse_pids_limit, parse_tmpfs_flag, parse_volume_flag,
};
use aurora_engine::MountRequest;

fn volume(name: Option<&str>, destination: &str, read_only: bool) -> MountRequest {
    MountRequest::Volume {
        name: name.map(String::from),
        destination: destination.into(),
        read_only,
    }
}

fn bind(source: &str, destination: &str, options: &[&str], read_only: bool) -> MountRequest {
    MountRequest::Bind {
        source: PathBuf::from(source),
        destination: destination.into(),
        options: options.iter().map(|o| o.to_string()).collect(),
        read_only,
    }
}

fn tmpfs(destination: &str, options: &[&str]) -> MountRequest {
    MountRequest::Tmpfs {
        destination: destination.into(),
        options: options.iter().map(|o| o.to_string()).collect(),
    }
}

#[test]
fn volume_flags_in_podmans_forms() {
    let cases = [
        ("/data", volume(None, "/data", false)),
        ("/data:ro", volume(None, "/data", true)),
        (
            "cache:/var/cache",
            volume(Some("cache"), "/var/cache", false),
        ),
        (
            "cache:/var/cache:ro,z",
            volume(Some("cache"), "/var/cache", true),
        ),
        ("/srv:/srv", bind("/srv", "/srv", &[], false)),
        ("/srv:/srv:ro", bind("/srv", "/srv", &[], true)),
        (
            "/srv:/in:rw,Z,rshared,nosuid",
            bind("/srv", "/in", &["Z", "rshared", "nosuid"], false),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_volume_flag(text).unwrap(), expected, "-v {text}");
    }
    let here = std::env::current_dir().unwrap();
    assert_eq!(
        parse_volume_flag("./conf:/etc/app").unwrap(),
        MountRequest::Bind {
            source: here.join("./conf"),
            destination: "/etc/app".into(),
            options: vec![],
            read_only: false
        }
    );
}

#[test]
fn bad_volume_flags_are_refused_quoting_the_text() {
    let cases = [
        ("data", "must be an absolute path"),
        ("a:b:c:d", "too many ':'"),
        ("/h:/c:ro,rw", "only once"),
        ("/h:/c:bogus", "\"bogus\" is not supported"),
        ("vol:/c:nosuid", "\"nosuid\" is not supported"),
        (
            "-bad:/c",
            "neither an absolute host path nor a valid volume name",
        ),
        ("/h:/c/../etc", "must not contain '..'"),
        ("/h:/c:", "an empty option"),
    ];
    for (text, reason) in cases {
        let message = parse_volume_flag(text).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("invalid -v {text:?}: ")),
            "{message}"
        );
        assert!(message.contains(reason), "-v {text}: {message}");
    }
}

#[test]
fn mount_flags_in_docker_and_podman_keys() {
    let cases = [
        (
            "type=bind,source=/srv,destination=/srv,readonly",
            bind("/srv", "/srv", &[], true),
        ),
        (
            "type=bind,src=/srv,dst=/x,bind-propagation=rslave,relabel=shared",
            bind("/srv", "/x", &["rslave", "z"], false),
        ),
        (
            "type=volume,source=v1,target=/v",
            volume(Some("v1"), "/v", false),
        ),
        (
            "type=volume,destination=/anon,ro=true",
            volume(None, "/anon", true),
        ),
        (
            "destination=/default-is-volume",
            volume(None, "/default-is-volume", false),
        ),
        (
            "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777",
            tmpfs("/t", &["size=64m", "mode=1777"]),
        ),
        ("type=tmpfs,dst=/t,ro", tmpfs("/t", &["ro"])),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_mount_flag(text).unwrap(), expected, "--mount {text}");
    }
    let bad = [
        ("type=bind,destination=/x", "needs source="),
        ("type=bind,source=vol,destination=/x", "must be a host path"),
        ("type=tmpfs,source=x,destination=/t", "no source"),
        ("type=nfs,destination=/t", "unknown type \"nfs\""),
        ("type=bind,source=/a", "no destination"),
        ("type=volume,dst=/x,tmpfs-size=1m", "for type=tmpfs"),
        ("type=tmpfs,dst=/x,tmpfs-mode=9z", "not an octal mode"),
        (
            "type=bind,src=/a,dst=/b,colour=red",
            "unknown option \"colour\"",
        ),
        (
            "type=bind,src=/a,dst=/b,readonly=maybe",
            "use true or false",
        ),
    ];
    for (text, reason) in bad {
        let message = parse_mount_flag(text).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("invalid --mount {text:?}: ")) && message.contains(reason),
            "--mount {text}: {message}"
        );
    }
}

#[test]
fn tmpfs_flags() {
    assert_eq!(parse_tmpfs_flag("/run").unwrap(), tmpfs("/run", &[]));
    assert_eq!(
        parse_tmpfs_flag("/t:size=64m,mode=1777,noexec").unwrap(),
        tmpfs("/t", &["size=64m", "mode=1777", "noexec"])
    );
    let message = parse_tmpfs_flag("/t:size=64m,huge=yes")
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "invalid --tmpfs \"/t:size=64m,huge=yes\": unknown tmpfs option \"huge=yes\""
    );
    assert!(parse_tmpfs_flag("t")
        .unwrap_err()
        .to_string()
        .contains("absolute"));
}

#[test]
fn env_flags_and_env_files() {
    assert_eq!(parse_env("A=1").unwrap().as_deref(), Some("A=1"));
    assert_eq!(parse_env("A=").unwrap().as_deref(), Some("A="));
    assert_eq!(parse_env("A=b=c").unwrap().as_deref(), Some("A=b=c"));
    // A bare name takes podadm's own value, or nothing.
    let path = std::env::var("PATH").unwrap();
    assert_eq!(parse_env("PATH").unwrap(), Some(format!("PATH={path}")));
    assert_eq!(parse_env("AURORA_SURELY_UNSET_VARIABLE").unwrap(), None);
    assert_eq!(
        parse_env("=x").unwrap_err().to_string(),
        "invalid -e \"=x\": the name is empty"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.env");
    std::fs::write(
        &file,
        "# settings\n\nGREETING=hello world\n  QUOTED=\"kept\"\nAURORA_SURELY_UNSET_VARIABLE\nPATH\n",
    )
    .unwrap();
    assert_eq!(
        parse_env_file(&file).unwrap(),
        vec![
            "GREETING=hello world".to_string(),
            "QUOTED=\"kept\"".to_string(),
            format!("PATH={path}"),
        ]
    );
    std::fs::write(&file, "A=1\n=oops\n").unwrap();
    let message = parse_env_file(&file).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "--env-file {} line 2: \"=oops\": the name is empty",
            file.display()
        )
    );
    let missing = dir.path().join("missing.env");
    let message = parse_env_file(&missing).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("--env-file {}: ", missing.display())),
        "{message}"
    );
}

#[test]
fn memory_sizes_as_podman_reads_them() {
    let cases = [
        ("512m", 512 << 20),
        ("512M", 512 << 20),
        ("512mb", 512 << 20),
        ("1g", 1 << 30),
        ("1.5g", 3 << 29),
        ("2GiB", 2 << 30),
        ("7000000", 7_000_000),
        ("7000000b", 7_000_000),
        ("10240k", 10 << 20),
        ("1t", 1 << 40),
    ];
    for (text, bytes) in cases {
        assert_eq!(parse_memory(text).unwrap(), bytes, "--memory {text}");
    }
    for (text, reason) in [
        ("lots", "use a number of bytes"),
        ("5m", "smallest memory limit allowed is 6m"),
        ("12x", "use a number of bytes"),
        ("", "not a number"),
        ("1.2.3g", "not a number"),
    ] {
        let message = parse_memory(text).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("invalid --memory {text:?}: "))
                && message.contains(reason),
            "{message}"
        );
    }
}

#[test]
fn cpus_pids_labels_entrypoints_and_capabilities() {
    assert_eq!(parse_cpus("1.5").unwrap(), 1.5);
    assert_eq!(parse_cpus("0.01").unwrap(), 0.01);
    assert_eq!(
        parse_cpus("0").unwrap_err().to_string(),
        "invalid --cpus \"0\": must be at least 0.01"
    );
    assert!(parse_cpus("two")
        .unwrap_err()
        .to_string()
        .contains("\"two\""));
    assert_eq!(parse_pids_limit("100").unwrap(), 100);
    assert_eq!(parse_pids_limit("-1").unwrap(), -1);
    assert!(parse_pids_limit("-5").is_err());

    assert_eq!(parse_label("a=b=c").unwrap(), ("a".into(), "b=c".into()));
    assert_eq!(parse_label("flag").unwrap(), ("flag".into(), "".into()));
    assert!(parse_label("=v")
        .unwrap_err()
        .to_string()
        .contains("\"=v\""));

    assert_eq!(parse_entrypoint("").unwrap(), Vec::<String>::new());
    assert_eq!(
        parse_entrypoint("/bin/echo hi").unwrap(),
        vec!["/bin/echo hi"]
    );
    assert_eq!(
        parse_entrypoint(r#"["/bin/sh", "-c"]"#).unwrap(),
        vec!["/bin/sh", "-c"]
    );
    assert!(parse_entrypoint("[oops")
        .unwrap_err()
        .to_string()
        .contains("\"[oops\""));

    for (text, name) in [
        ("net_admin", "CAP_NET_ADMIN"),
        ("NET_ADMIN", "CAP_NET_ADMIN"),
        ("cap_sys_admin", "CAP_SYS_ADMIN"),
        ("CAP_CHOWN", "CAP_CHOWN"),
        ("all", "ALL"),
    ] {
        assert_eq!(parse_capability("--cap-add", text).unwrap(), name);
    }
    assert_eq!(
        parse_capability("--cap-drop", "net_wizard").unwrap_err().to_string(),
        "invalid --cap-drop \"net_wizard\": unknown capability (a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)"
    );
}
