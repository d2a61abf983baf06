//! `podadm cp` as podman's: files and directories both ways, `DIR/.`, new and existing
//! destinations, tar streams; owners and modes kept.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use aurora_engine::copy::{copy_into, copy_out, copy_out_tar, copy_tar_into, CopyError};

/// A container root with `/etc/app/{app.conf,sub/deep}` and a hardlink.
fn container() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("etc/app");
    std::fs::create_dir_all(app.join("sub")).unwrap();
    std::fs::write(app.join("app.conf"), "port=80\n").unwrap();
    std::fs::set_permissions(app.join("app.conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(app.join("sub/deep"), "deep\n").unwrap();
    std::fs::hard_link(app.join("sub/deep"), app.join("sub/deep2")).unwrap();
    std::os::unix::fs::symlink("app.conf", app.join("link")).unwrap();
    root
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn files_out_of_a_container() {
    let ctr = container();
    let host = tempfile::tempdir().unwrap();
    // To a new name.
    copy_out(
        ctr.path(),
        "/etc/app/app.conf",
        &host.path().join("copy.conf"),
    )
    .unwrap();
    assert_eq!(read(&host.path().join("copy.conf")), "port=80\n");
    let mode = std::fs::metadata(host.path().join("copy.conf"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // Into an existing directory, under its own name.
    copy_out(ctr.path(), "/etc/app/app.conf", host.path()).unwrap();
    assert_eq!(read(&host.path().join("app.conf")), "port=80\n");
    // Over an existing file.
    std::fs::write(host.path().join("old"), "old contents that are longer\n").unwrap();
    copy_out(ctr.path(), "/etc/app/sub/deep", &host.path().join("old")).unwrap();
    assert_eq!(read(&host.path().join("old")), "deep\n");
    // A symlink in the container is followed (inside the container).
    copy_out(ctr.path(), "/etc/app/link", &host.path().join("via-link")).unwrap();
    assert_eq!(read(&host.path().join("via-link")), "port=80\n");
    // A missing parent, a missing source, a file into a "directory" that is not there.
    let err = copy_out(
        ctr.path(),
        "/etc/app/app.conf",
        &host.path().join("no/such"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = copy_out(ctr.path(), "/etc/nothing", host.path()).unwrap_err();
    assert!(matches!(err, CopyError::ContainerMissing { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "\"/etc/nothing\" in the container: no such file or directory"
    );
    let err = copy_out(
        ctr.path(),
        "/etc/app/app.conf",
        &host.path().join("newdir/"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn directories_out_of_a_container() {
    let ctr = container();
    let host = tempfile::tempdir().unwrap();
    // Into an existing directory: DEST/app.
    copy_out(ctr.path(), "/etc/app", host.path()).unwrap();
    let app = host.path().join("app");
    assert_eq!(read(&app.join("sub/deep")), "deep\n");
    assert_eq!(
        std::fs::read_link(app.join("link")).unwrap(),
        Path::new("app.conf")
    );
    let (a, b) = (
        std::fs::metadata(app.join("sub/deep")).unwrap(),
        std::fs::metadata(app.join("sub/deep2")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "the hardlink is kept");
    // A new destination: created, holding the content.
    copy_out(ctr.path(), "/etc/app", &host.path().join("fresh")).unwrap();
    assert_eq!(read(&host.path().join("fresh/app.conf")), "port=80\n");
    assert!(!host.path().join("fresh/app").exists());
    // DIR/. into an existing directory: the content only.
    let into = host.path().join("into");
    std::fs::create_dir(&into).unwrap();
    copy_out(ctr.path(), "/etc/app/.", &into).unwrap();
    assert_eq!(read(&into.join("sub/deep")), "deep\n");
    // A directory onto a file is refused.
    std::fs::write(host.path().join("file"), "x").unwrap();
    let err = copy_out(ctr.path(), "/etc/app", &host.path().join("file")).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot copy a directory onto a file"),
        "{err}"
    );
}

#[test]
fn files_and_directories_into_a_container() {
    let ctr = container();
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("site");
    std::fs::create_dir_all(src.join("css")).unwrap();
    std::fs::write(src.join("index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(src.join("css/main.css"), "body{}\n").unwrap();
    std::fs::set_permissions(
        src.join("index.html"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    copy_into(ctr.path(), "/srv-new", &src).unwrap();
    assert_eq!(
        read(&ctr.path().join("srv-new/index.html")),
        "<h1>hi</h1>\n"
    );
    assert_eq!(
        std::fs::metadata(ctr.path().join("srv-new/index.html"))
            .unwrap()
            .mode()
            & 0o777,
        0o600
    );
    copy_into(ctr.path(), "/etc", &src).unwrap();
    assert_eq!(read(&ctr.path().join("etc/site/css/main.css")), "body{}\n");
    copy_into(ctr.path(), "/etc/app/", &src.join("index.html")).unwrap();
    assert_eq!(
        read(&ctr.path().join("etc/app/index.html")),
        "<h1>hi</h1>\n"
    );
    copy_into(ctr.path(), "/etc/app/app.conf", &src.join("css/main.css")).unwrap();
    assert_eq!(read(&ctr.path().join("etc/app/app.conf")), "body{}\n");
    // Through the container's own symlink: the file it points to is replaced.
    copy_into(ctr.path(), "/etc/app/link", &src.join("index.html")).unwrap();
    assert_eq!(read(&ctr.path().join("etc/app/app.conf")), "<h1>hi</h1>\n");
    assert!(std::fs::symlink_metadata(ctr.path().join("etc/app/link"))
        .unwrap()
        .is_symlink());
    let err = copy_into(ctr.path(), "/no/such/dir/x", &src.join("index.html")).unwrap_err();
    assert!(matches!(err, CopyError::ContainerMissing { .. }), "{err}");
    let err = copy_into(ctr.path(), "/x", &host.path().join("missing")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&host.path().join("missing").display().to_string()),
        "{err}"
    );
}

#[test]
fn owners_are_kept() {
    if !aurora_testkit::skip::root_or_skip("owners_are_kept") {
        return;
    }
    let ctr = container();
    let conf = ctr.path().join("etc/app/app.conf");
    std::os::unix::fs::lchown(&conf, Some(1234), Some(5678)).unwrap();
    let host = tempfile::tempdir().unwrap();
    copy_out(ctr.path(), "/etc/app", host.path()).unwrap();
    let meta = std::fs::metadata(host.path().join("app/app.conf")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    let file = host.path().join("owned");
    std::fs::write(&file, "x").unwrap();
    std::os::unix::fs::lchown(&file, Some(42), Some(43)).unwrap();
    copy_into(ctr.path(), "/", &file).unwrap();
    let meta = std::fs::metadata(ctr.path().join("owned")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (42, 43));
}

#[test]
fn tar_streams_both_ways() {
    let ctr = container();
    let mut tar = Vec::new();
    copy_out_tar(ctr.path(), "/etc/app", &mut tar).unwrap();
    let mut names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app/",
            "app/app.conf",
            "app/link",
            "app/sub/",
            "app/sub/deep",
            "app/sub/deep2"
        ]
    );
    let mut content = Vec::new();
    copy_out_tar(ctr.path(), "/etc/app/.", &mut content).unwrap();
    let first = tar::Archive::new(&content[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .any(|n| n.starts_with("app/"));
    assert!(!first, "DIR/. has no top directory");

    // What came out goes into another container.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join("restore")).unwrap();
    copy_tar_into(other.path(), "/restore", &tar[..]).unwrap();
    assert_eq!(read(&other.path().join("restore/app/sub/deep")), "deep\n");
    let err = copy_tar_into(other.path(), "/restore/app/app.conf", &tar[..]).unwrap_err();
    assert!(
        err.to_string().contains("only be copied into a directory"),
        "{err}"
    );
}
