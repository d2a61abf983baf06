//! `podadm cp` never follows a container's symlink out of the container's root, in either
//! direction: `/etc/evil -> /../../../etc` and absolute links to host paths resolve inside
//! the root, as the container itself would see them.

use std::path::Path;

use aurora_engine::copy::{copy_into, copy_out, copy_tar_into};

struct Setup {
    ctr: tempfile::TempDir,
    /// A directory on the host, outside the container, that links point at.
    outside: tempfile::TempDir,
    host: tempfile::TempDir,
}

fn setup() -> Setup {
    let ctr = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let host = tempfile::tempdir().unwrap();
    let etc = ctr.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("hostname"), "container\n").unwrap();
    std::fs::write(outside.path().join("secret"), "host secret\n").unwrap();
    // Climbs out with `..`; absolute to the host's directory; absolute to a host file.
    std::os::unix::fs::symlink("/../../../etc", etc.join("evil")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ctr.path().join("abs")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret"),
        ctr.path().join("secret-link"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../../../../..", ctr.path().join("up")).unwrap();
    Setup { ctr, outside, host }
}

fn unique(name: &str) -> String {
    format!("aurora-cp-{name}-{}", std::process::id())
}

#[test]
fn into_a_container_through_its_symlinks_stays_inside() {
    let s = setup();
    let file = s.host.path().join("planted");
    std::fs::write(&file, "planted\n").unwrap();

    // /etc/evil/NAME: /etc/evil is the container's /etc.
    let name = unique("etc");
    copy_into(s.ctr.path(), &format!("/etc/evil/{name}"), &file).unwrap();
    assert!(
        !Path::new("/etc").join(&name).exists(),
        "written to the host's /etc"
    );
    assert_eq!(
        std::fs::read_to_string(s.ctr.path().join("etc").join(&name)).unwrap(),
        "planted\n"
    );

    // Into /abs (an absolute link to a host directory): the host directory is untouched; the
    // path does not exist inside the container.
    let before: Vec<_> = std::fs::read_dir(s.outside.path()).unwrap().collect();
    assert!(copy_into(s.ctr.path(), "/abs/x", &file).is_err());
    assert!(copy_into(s.ctr.path(), "/abs/", &file).is_err());
    assert!(
        copy_into(s.ctr.path(), "/up/etc/", &file).is_ok(),
        "/up is the root: /etc"
    );
    assert!(s.ctr.path().join("etc/planted").exists());
    // Over a link to a host file: the link is resolved inside the root, where its target
    // does not exist; the host file is left alone.
    let _ = copy_into(s.ctr.path(), "/secret-link", &file);
    assert_eq!(
        std::fs::read_to_string(s.outside.path().join("secret")).unwrap(),
        "host secret\n"
    );
    let after: Vec<_> = std::fs::read_dir(s.outside.path()).unwrap().collect();
    assert_eq!(before.len(), after.len());

    // A whole directory into /etc/evil lands in the container's /etc.
    let dir = s.host.path().join(unique("dir"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), "f\n").unwrap();
    copy_into(s.ctr.path(), "/etc/evil", &dir).unwrap();
    let dir_name = dir.file_name().unwrap();
    assert!(!Path::new("/etc").join(dir_name).exists());
    assert!(s.ctr.path().join("etc").join(dir_name).join("f").exists());
}

#[test]
fn out_of_a_container_through_its_symlinks_reads_only_the_container() {
    let s = setup();
    // /etc/evil/hostname is the container's /etc/hostname, not the host's.
    copy_out(s.ctr.path(), "/etc/evil/hostname", &s.host.path().join("h")).unwrap();
    assert_eq!(
        std::fs::read_to_string(s.host.path().join("h")).unwrap(),
        "container\n"
    );
    copy_out(s.ctr.path(), "/up/etc/hostname", &s.host.path().join("h2")).unwrap();
    assert_eq!(
        std::fs::read_to_string(s.host.path().join("h2")).unwrap(),
        "container\n"
    );
    // An absolute link to a host file resolves inside the root: nothing there.
    assert!(copy_out(s.ctr.path(), "/secret-link", &s.host.path().join("s")).is_err());
    assert!(copy_out(s.ctr.path(), "/abs/secret", &s.host.path().join("s")).is_err());
    assert!(!s.host.path().join("s").exists());
    // Copying the root: links come out as links, never followed.
    let whole = s.host.path().join("whole");
    copy_out(s.ctr.path(), "/", &whole).unwrap();
    assert_eq!(
        std::fs::read_link(whole.join("secret-link")).unwrap(),
        s.outside.path().join("secret")
    );
    assert_eq!(
        std::fs::read_link(whole.join("etc/evil")).unwrap(),
        Path::new("/../../../etc")
    );
    assert!(whole.join("etc/hostname").is_file());
    assert!(
        !whole.join("etc/passwd").exists(),
        "the host's /etc was not copied"
    );
}

#[test]
fn a_hostile_tar_stream_cannot_leave_the_container() {
    let s = setup();
    let escape = unique("tar");
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    // Through the container's /etc/evil link, and through one the stream plants itself.
    builder
        .append_data(&mut header, format!("evil/{escape}"), &b"bad\n"[..])
        .unwrap();
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder
        .append_link(&mut link, "planted", s.outside.path())
        .unwrap();
    builder
        .append_data(&mut header, format!("planted/{escape}"), &b"bad\n"[..])
        .unwrap();
    let tar = builder.into_inner().unwrap();
    // The stream's links resolve inside the directory it is extracted into (the copy's
    // root); whether an entry then lands or fails, nothing is written outside.
    let _ = copy_tar_into(s.ctr.path(), "/etc", &tar[..]);
    assert!(!Path::new("/etc").join(&escape).exists());
    assert!(!s.outside.path().join(&escape).exists());
}
