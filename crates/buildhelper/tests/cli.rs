//! The binary as a build step runs it: help, each command, errors and exit statuses.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use aurora_podinit::actions::ActionsFile;
use aurora_podinit::services::ServicesFile;
use common::{compress, Comp, Tar, Zip};

fn buildhelper(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_buildhelper"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_explains_each_command() {
    let out = buildhelper(&["--help"], None);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "extract ARCHIVE DEST",
        "action add NAME",
        "service add NAME",
        "configmap add NAME",
        "/etc/aurora/actions.json",
        "/etc/aurora/services.json",
        "/etc/aurora/configmaps.json",
        "/var/svc/manifest/site/NAME.xml",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    for (args, needle) in [
        (&["extract", "--help"][..], "RESOLVE_IN_ROOT"),
        (&["action", "add", "--help"][..], "podinit action NAME"),
        (&["service", "add", "--help"][..], "--depends-on"),
        (&["service", "add", "--help"][..], "svc:/site/NAME:default"),
        (&["configmap", "add", "--help"][..], "run time"),
    ] {
        let out = buildhelper(args, None);
        assert!(out.status.success(), "{args:?}");
        assert!(
            text(&out.stdout).contains(needle),
            "{args:?} lacks {needle:?}"
        );
    }
    let out = buildhelper(&["--version"], None);
    assert_eq!(
        text(&out.stdout),
        format!("buildhelper {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn extract_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let tar = compress(
        &Tar::default().file("pkg/hello", b"hi\n", 0o755).bytes(),
        Comp::Xz,
    );
    let out = buildhelper(
        &[
            "extract",
            "-",
            dest.to_str().unwrap(),
            "--strip-components",
            "1",
            "--no-same-owner",
        ],
        Some(&tar),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(dest.join("hello")).unwrap(), b"hi\n");
    assert!(
        text(&out.stdout).starts_with("extracted - (tar+xz) into "),
        "{}",
        text(&out.stdout)
    );

    let zip = Zip::new().file("a", b"a", 0o644, true).bytes();
    let out = buildhelper(&["extract", "-", dest.to_str().unwrap()], Some(&zip));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("a zip archive must be a file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn errors_name_the_archive_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("evil.tar");
    std::fs::write(&archive, Tar::default().file("../x", b"x", 0o644).bytes()).unwrap();
    let dest = dir.path().join("out");
    let out = buildhelper(
        &["extract", archive.to_str().unwrap(), dest.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "buildhelper: error: extract: {} (tar): entry \"../x\": `..`",
            archive.display()
        )),
        "{err}"
    );
    assert!(!dir.path().join("x").exists());
    // A usage error is clap's: status 2.
    let out = buildhelper(&["extract", "a"], None);
    assert_eq!(out.status.code(), Some(2));
}

fn root_args<'a>(root: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--root", root.to_str().unwrap()];
    args.extend_from_slice(rest);
    args
}

#[test]
fn add_commands_write_what_podinit_reads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:100:101::/home/app:/bin/sh\n",
    )
    .unwrap();

    let run = |args: &[&str]| {
        let out = buildhelper(&root_args(root, args), None);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let said = run(&[
        "action",
        "add",
        "reload",
        "--description",
        "reload it",
        "--",
        "app",
        "--reload",
        "--",
        "x",
    ]);
    assert_eq!(said, "added action reload in /etc/aurora/actions.json\n");
    let said = run(&["action", "add", "reload", "--", "app", "-r"]);
    assert_eq!(said, "replaced action reload in /etc/aurora/actions.json\n");
    let actions = ActionsFile::load(&root.join("etc/aurora/actions.json")).unwrap();
    assert_eq!(actions.actions["reload"].args, ["app", "-r"]);

    run(&[
        "service",
        "add",
        "db",
        "--exec",
        "/usr/bin/db",
        "--restart",
        "always",
    ]);
    let said = run(&[
        "service",
        "add",
        "app",
        "--exec",
        "/usr/bin/app --name 'my app'",
        "--user",
        "app",
        "--depends-on",
        "db",
        "--env",
        "A=1",
        "--workdir",
        "/srv",
        "--smf",
    ]);
    assert!(
        said.contains("wrote SMF manifest /var/svc/manifest/site/app.xml"),
        "{said}"
    );
    let services = ServicesFile::load(&root.join("etc/aurora/services.json")).unwrap();
    let app = &services.services[1];
    assert_eq!(app.process.args, ["/usr/bin/app", "--name", "my app"]);
    assert_eq!(
        app.process.user.as_ref().map(|u| (u.uid, u.gid)),
        Some((100, 101))
    );
    assert!(root.join("var/svc/manifest/site/app.xml").exists());

    run(&[
        "configmap",
        "add",
        "app",
        "--format",
        "yaml",
        "--path",
        "/etc/app.yaml",
        "--mode",
        "600",
    ]);
    let defs = std::fs::read_to_string(root.join("etc/aurora/configmaps.json")).unwrap();
    assert!(defs.contains("\"mode\": \"0600\""), "{defs}");

    let out = buildhelper(
        &root_args(
            root,
            &["service", "add", "x", "--exec", "a", "--depends-on", "nope"],
        ),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "buildhelper: error: service add x: service x depends on nope, which is not in {}/etc/aurora/services.json yet: add nope first\n",
            root.display()
        )
    );
    let out = buildhelper(
        &root_args(
            root,
            &["configmap", "add", "c", "--format", "ini", "--path", "/c"],
        ),
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}
