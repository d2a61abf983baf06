//! A hostile root filesystem: `/etc/passwd` and `/etc/group` planted as symlinks out of the
//! rootfs, oversized, malformed, or not regular files. The host's files must never be read.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use aurora_bundle::{resolve_user, BundleError, ResolvedUser, MAX_ID_FILE_SIZE};

/// Bytes this thread has read through read(2) and its kin (`rchar` of /proc/thread-self/io):
/// per thread, so other tests running beside this one do not count.
fn bytes_read_by_this_thread() -> u64 {
    std::fs::read_to_string("/proc/thread-self/io")
        .expect("/proc/thread-self/io")
        .lines()
        .find_map(|line| line.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("rchar in /proc/thread-self/io")
}

/// A canary user that exists only outside the rootfs.
const CANARY: &str = "canary_9f3b2e_outside";
const CANARY_PASSWD: &str = "canary_9f3b2e_outside:x:4321:4321:canary:/canary-home:/bin/sh\n";

struct Fixture {
    _dir: tempfile::TempDir,
    rootfs: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("passwd"), CANARY_PASSWD).unwrap();
    std::fs::write(
        outside.join("group"),
        format!("canarygrp:x:4321:{CANARY}\n"),
    )
    .unwrap();
    Fixture {
        _dir: dir,
        rootfs,
        outside,
    }
}

fn resolve(rootfs: &Path, user: &str) -> Result<ResolvedUser, BundleError> {
    resolve_user("hostile/image:1", rootfs, user)
}

fn assert_canary_not_found(rootfs: &Path) {
    match resolve(rootfs, CANARY) {
        Err(BundleError::UnknownUser { user, .. }) => assert_eq!(user, CANARY),
        other => panic!("the canary outside the rootfs was reachable: {other:?}"),
    }
    // A numeric user still works, and gets nothing from the outside file.
    let u = resolve(rootfs, "4321").unwrap();
    assert_eq!((u.uid, u.gid, u.home), (4321, 0, None));
}

#[test]
fn absolute_symlink_out_of_the_rootfs_is_not_followed() {
    let f = fixture();
    symlink(f.outside.join("passwd"), f.rootfs.join("etc/passwd")).unwrap();
    assert_canary_not_found(&f.rootfs);
}

#[test]
fn dotdot_symlink_out_of_the_rootfs_is_not_followed() {
    let f = fixture();
    // Far more `..` than the depth of the rootfs: clamped at the rootfs's `/`.
    symlink(
        "../../../../../../../../outside/passwd",
        f.rootfs.join("etc/passwd"),
    )
    .unwrap();
    assert_canary_not_found(&f.rootfs);
    // `../outside/passwd` from /etc is exactly the host path of the canary when read
    // naively (rootfs/etc/../../outside/passwd): must still not be found.
    std::fs::remove_file(f.rootfs.join("etc/passwd")).unwrap();
    symlink("../../outside/passwd", f.rootfs.join("etc/passwd")).unwrap();
    assert!(Path::new(&f.rootfs.join("etc/../../outside/passwd")).exists());
    assert_canary_not_found(&f.rootfs);
}

#[test]
fn etc_itself_a_symlink_out_of_the_rootfs_is_not_followed() {
    let f = fixture();
    std::fs::remove_dir(f.rootfs.join("etc")).unwrap();
    symlink(&f.outside, f.rootfs.join("etc")).unwrap();
    assert_canary_not_found(&f.rootfs);
    // Nor is /etc/group read through it.
    let err = resolve(&f.rootfs, "0:canarygrp").unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::UnknownGroup {
                file_missing: true,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn symlink_to_shadow_like_file_resolves_inside_the_rootfs() {
    let f = fixture();
    // /etc/passwd -> /etc/shadow-like file: an absolute link, resolved in the rootfs.
    std::fs::write(
        f.rootfs.join("etc/shadow-like"),
        "inside:x:77:78:in:/in-home:/bin/sh\n",
    )
    .unwrap();
    // The same name on the host must not be what is read.
    symlink("/etc/shadow-like", f.rootfs.join("etc/passwd")).unwrap();
    let u = resolve(&f.rootfs, "inside").unwrap();
    assert_eq!(
        (u.uid, u.gid, u.home.as_deref()),
        (77, 78, Some("/in-home"))
    );
    assert_canary_not_found(&f.rootfs);
    // And a link to the host's own /etc/passwd path reads the image's, not the host's
    // (the host has `root`; the image file here does not).
    std::fs::remove_file(f.rootfs.join("etc/passwd")).unwrap();
    std::fs::write(f.rootfs.join("etc/real"), "imageonly:x:5:5::/x:/bin/sh\n").unwrap();
    symlink("/etc/real", f.rootfs.join("etc/passwd")).unwrap();
    assert!(matches!(
        resolve(&f.rootfs, "root"),
        Err(BundleError::UnknownUser { .. })
    ));
    assert_eq!(resolve(&f.rootfs, "imageonly").unwrap().uid, 5);
}

#[test]
fn huge_passwd_is_refused_by_size() {
    let f = fixture();
    let file = std::fs::File::create(f.rootfs.join("etc/passwd")).unwrap();
    file.set_len(100 * 1024 * 1024).unwrap(); // sparse: 100 MB, no disk used
    let before = bytes_read_by_this_thread();
    let err = resolve(&f.rootfs, "anyone").unwrap_err();
    let read = bytes_read_by_this_thread() - before;
    assert!(
        read < 1024 * 1024,
        "{read} bytes were read: the file was read"
    );
    match &err {
        BundleError::IdFileTooLarge { size, limit, .. } => {
            assert_eq!(*size, 100 * 1024 * 1024);
            assert_eq!(*limit, MAX_ID_FILE_SIZE);
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("etc/passwd") && msg.contains("too large"),
        "{msg}"
    );
}

#[test]
fn passwd_just_under_the_limit_is_read() {
    let f = fixture();
    let mut text = "x".repeat(MAX_ID_FILE_SIZE as usize - 100);
    text.push_str("\nlate:x:9:9::/late:/bin/sh\n");
    assert!(text.len() as u64 <= MAX_ID_FILE_SIZE);
    std::fs::write(f.rootfs.join("etc/passwd"), text).unwrap();
    assert_eq!(resolve(&f.rootfs, "late").unwrap().uid, 9);
}

#[test]
fn huge_group_is_refused_by_size() {
    let f = fixture();
    std::fs::write(f.rootfs.join("etc/passwd"), "app:x:1:1::/:/bin/sh\n").unwrap();
    let file = std::fs::File::create(f.rootfs.join("etc/group")).unwrap();
    file.set_len(MAX_ID_FILE_SIZE + 1).unwrap();
    assert!(matches!(
        resolve(&f.rootfs, "app").unwrap_err(),
        BundleError::IdFileTooLarge { .. }
    ));
}

#[test]
fn malformed_lines_are_skipped() {
    let f = fixture();
    let passwd = "\
garbage without colons
::::::
:x:5:5::/empty-name:/bin/sh
short:x:6
neg:x:-1:0::/:/bin/sh
big:x:99999999999:0::/:/bin/sh
tab\tname:x:7:7::/:/bin/sh
\u{fffd}\u{0}binary:x:8:8
good:x:1234:4321:Good:/home/good:/bin/sh
";
    std::fs::write(f.rootfs.join("etc/passwd"), passwd).unwrap();
    std::fs::write(
        f.rootfs.join("etc/group"),
        "junk\n:x:1:good\nnotnum:x:abc:good\nok:x:600:good\n",
    )
    .unwrap();
    let u = resolve(&f.rootfs, "good").unwrap();
    assert_eq!(u.uid, 1234);
    assert_eq!(u.gid, 4321);
    assert_eq!(u.additional_gids, vec![600]);
    assert_eq!(u.home.as_deref(), Some("/home/good"));
    for bad in ["short", "neg", "big", ""] {
        if bad.is_empty() {
            continue;
        }
        assert!(
            matches!(
                resolve(&f.rootfs, bad),
                Err(BundleError::UnknownUser { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn user_names_with_colons() {
    let f = fixture();
    // A passwd line cannot hold a name with a colon: "ev:il:…" is the user "ev" with
    // password "il" and uid "x" — malformed, skipped.
    std::fs::write(
        f.rootfs.join("etc/passwd"),
        "ev:il:x:1:1::/:/bin/sh\nev:x:2:2::/ev:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(f.rootfs.join("etc/group"), "il:x:3:\n").unwrap();
    // "ev:il" is user "ev", group "il".
    let u = resolve(&f.rootfs, "ev:il").unwrap();
    assert_eq!((u.uid, u.gid), (2, 3));
    // Two colons: refused with a message naming the user.
    let err = resolve(&f.rootfs, "ev:il:x").unwrap_err();
    assert!(matches!(err, BundleError::InvalidUser { .. }), "{err}");
    assert!(err.to_string().contains("\"ev:il:x\""), "{err}");
    // An empty user before the colon: refused.
    assert!(matches!(
        resolve(&f.rootfs, ":3").unwrap_err(),
        BundleError::InvalidUser { .. }
    ));
}

#[test]
fn fifo_and_directory_are_refused_without_blocking() {
    let f = fixture();
    let passwd = f.rootfs.join("etc/passwd");
    let status = std::process::Command::new("mkfifo")
        .arg(&passwd)
        .status()
        .unwrap();
    assert!(status.success());
    // Opening a FIFO for reading would block forever; it must be refused first.
    let err = resolve(&f.rootfs, "anyone").unwrap_err();
    assert!(matches!(err, BundleError::IdFileNotRegular { .. }), "{err}");
    std::fs::remove_file(&passwd).unwrap();
    std::fs::create_dir(&passwd).unwrap();
    let err = resolve(&f.rootfs, "1000").unwrap_err();
    assert!(matches!(err, BundleError::IdFileNotRegular { .. }), "{err}");
}

#[test]
fn symlink_loop_is_an_error_not_a_hang() {
    let f = fixture();
    symlink("/etc/loop-b", f.rootfs.join("etc/loop-a")).unwrap();
    symlink("/etc/loop-a", f.rootfs.join("etc/loop-b")).unwrap();
    symlink("/etc/loop-a", f.rootfs.join("etc/passwd")).unwrap();
    let err = resolve(&f.rootfs, "anyone").unwrap_err();
    assert!(matches!(err, BundleError::IdFileOpen { .. }), "{err}");
    assert!(err.to_string().contains("etc/passwd"), "{err}");
}

#[test]
fn missing_files_are_fine_for_numeric_users_only() {
    let f = fixture();
    assert_eq!(
        resolve(&f.rootfs, "1000:1000").unwrap(),
        ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![],
            home: None
        }
    );
    assert_eq!(resolve(&f.rootfs, "").unwrap(), ResolvedUser::default());
    let err = resolve(&f.rootfs, "app").unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::UnknownUser {
                file_missing: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no such file"), "{err}");
    assert!(matches!(
        resolve(&f.rootfs, "1000:staff").unwrap_err(),
        BundleError::UnknownGroup {
            file_missing: true,
            ..
        }
    ));
}

#[test]
fn missing_rootfs_is_an_error_naming_it() {
    let f = fixture();
    let err = resolve(&f.rootfs.join("nope"), "0").unwrap_err();
    assert!(matches!(err, BundleError::RootfsOpen { .. }), "{err}");
    assert!(err.to_string().contains("rootfs/nope"), "{err}");
    assert!(err.to_string().contains("hostile/image:1"), "{err}");
}
