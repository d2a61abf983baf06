//! podadm's command line refused as podman refuses it: status 125 for a bad command line,
//! 0 for help; podman's image verbs pointed at imageadm. Needs no root and no store.

use std::process::{Command, Output};

fn podadm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_podadm"))
        .args(args)
        .env("AURORA_ROOT", "/nonexistent/aurora-usage-test")
        .output()
        .expect("run podadm")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Command lines podman 4.3 refuses with 125.
const REFUSED: [&[&str]; 4] = [&["bogus"], &["run"], &["run", "--bogus", "x"], &["pod"]];

#[test]
fn bad_command_lines_exit_125_as_podmans() {
    for args in REFUSED {
        let out = podadm(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?} said nothing");
    }
    if !aurora_testkit::skip::tools_or_skip("bad_command_lines_exit_125_as_podmans", &["podman"]) {
        return;
    }
    for args in REFUSED {
        let out = Command::new("podman").args(args).output().expect("podman");
        assert_eq!(out.status.code(), Some(125), "podman {args:?}");
    }
}

#[test]
fn help_goes_to_stdout_with_status_0() {
    for args in [&["--help"][..], &["pod", "--help"], &["run", "--help"]] {
        let out = podadm(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: podadm"),
            "{args:?}"
        );
    }
}

#[test]
fn podmans_image_verbs_point_at_imageadm() {
    for (verb, imageadm) in [("images", "images"), ("pull", "pull"), ("rmi", "rm")] {
        let out = podadm(&[verb, "x"]);
        assert_eq!(out.status.code(), Some(125), "{verb}");
        assert!(
            stderr(&out).contains(&format!("`imageadm {imageadm} …`")),
            "{verb}: {}",
            stderr(&out)
        );
    }
    // Any other unknown verb gets clap's message only.
    assert!(!stderr(&podadm(&["bogus"])).contains("imageadm"));
}
