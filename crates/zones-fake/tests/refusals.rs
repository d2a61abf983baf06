//! The fakes refuse what the real tools refuse, with their exit statuses, and keep each
//! zone's state across calls. Booting needs root (the fakes enter a zone by chroot); the
//! rest runs anywhere.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fake system: a state directory and a zonepath whose root holds a busybox tree.
struct Fakes {
    dir: tempfile::TempDir,
}

impl Fakes {
    fn new() -> Fakes {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::create_dir_all(dir.path().join("zp")).expect("zonepath");
        Fakes { dir }
    }

    fn zonepath(&self) -> PathBuf {
        self.dir.path().join("zp")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_zones-fake"))
            .arg(tool)
            .args(args)
            .env("AURORA_ZONES_FAKE_STATE", self.dir.path().join("state"))
            .output()
            .expect("run the fake")
    }

    /// Exit status and stderr.
    fn status(&self, tool: &str, args: &[&str]) -> (i32, String) {
        let out = self.run(tool, args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, tool: &str, args: &[&str]) -> String {
        let out = self.run(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Refused with `code`, the message naming `words`.
    fn refused(&self, tool: &str, args: &[&str], code: i32, words: &str) {
        let (status, stderr) = self.status(tool, args);
        assert_eq!(status, code, "{tool} {args:?}: {stderr}");
        assert!(stderr.contains(words), "{tool} {args:?}: {stderr}");
    }

    fn configure(&self, name: &str) {
        let file = self.dir.path().join(format!("{name}.zonecfg"));
        fs::write(
            &file,
            format!(
                "create -b\nset zonepath={}\nset brand=lx\nset ip-type=exclusive\nset bootargs=\"-i /bin/zone-init\"\nadd attr\n\tset name=x\nend\ncommit\n",
                self.zonepath().display()
            ),
        )
        .expect("zonecfg file");
        self.ok("zonecfg", &["-z", name, "-f", &file.to_string_lossy()]);
    }

    /// The zone's state as `zoneadm list -cp` prints it.
    fn state(&self, name: &str) -> Option<String> {
        self.ok("zoneadm", &["list", "-cp"])
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f[1] == name)
            .map(|f| f[2].to_string())
    }
}

fn mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn the_state_machine_refuses_what_zoneadm_and_zonecfg_refuse() {
    let f = Fakes::new();
    f.refused(
        "zoneadm",
        &["-z", "z1", "install"],
        1,
        "No such zone configured",
    );
    f.configure("z1");
    assert_eq!(f.state("z1").as_deref(), Some("configured"));
    let again = f.dir.path().join("z1.zonecfg");
    f.refused(
        "zonecfg",
        &["-z", "z1", "-f", &again.to_string_lossy()],
        1,
        "already exists",
    );
    f.refused(
        "zoneadm",
        &["-z", "z1", "boot"],
        1,
        "must be installed before boot",
    );
    f.refused(
        "zoneadm",
        &["-z", "z1", "ready"],
        1,
        "ready operation is invalid for configured zones",
    );
    f.refused(
        "zlogin",
        &["z1", "true"],
        1,
        "login allowed only to running zones",
    );
    // verify: the zonepath must be mode 700.
    mode(&f.zonepath(), 0o755);
    f.refused("zoneadm", &["-z", "z1", "install"], 1, "mode 700");
    mode(&f.zonepath(), 0o700);
    f.ok("zoneadm", &["-z", "z1", "install"]);
    assert!(f.zonepath().join("root").is_dir());
    assert_eq!(f.state("z1").as_deref(), Some("installed"));
    f.refused(
        "zoneadm",
        &["-z", "z1", "install"],
        1,
        "install operation is invalid for installed zones",
    );
    f.refused(
        "zonecfg",
        &["-z", "z1", "delete", "-F"],
        1,
        "delete not allowed",
    );
    f.refused("zoneadm", &["-z", "z1", "uninstall"], 1, "needs -F");
    f.ok("zoneadm", &["-z", "z1", "ready"]);
    assert_eq!(f.state("z1").as_deref(), Some("ready"));
    f.refused(
        "zoneadm",
        &["-z", "z1", "uninstall", "-F"],
        1,
        "invalid for ready zones",
    );
    f.ok("zoneadm", &["-z", "z1", "halt"]);
    f.ok("zoneadm", &["-z", "z1", "uninstall", "-F"]);
    assert!(
        !f.zonepath().join("root").exists(),
        "uninstall removes the root"
    );
    assert_eq!(f.state("z1").as_deref(), Some("configured"));
    f.refused("zonecfg", &["-z", "z1", "delete"], 1, "needs -F");
    f.ok("zonecfg", &["-z", "z1", "delete", "-F"]);
    assert_eq!(f.state("z1"), None);
}

#[test]
fn attach_needs_a_root_and_an_injected_failure_changes_nothing() {
    let f = Fakes::new();
    mode(&f.zonepath(), 0o700);
    f.configure("z2");
    f.refused("zoneadm", &["-z", "z2", "attach", "-F"], 1, "no zone root");
    fs::create_dir(f.zonepath().join("root")).expect("root");
    fs::write(f.dir.path().join("state/fail"), "zoneadm attach\n").expect("fail file");
    f.refused("zoneadm", &["-z", "z2", "attach", "-F"], 1, "(injected)");
    assert_eq!(f.state("z2").as_deref(), Some("configured"));
    fs::remove_file(f.dir.path().join("state/fail")).expect("heal");
    f.ok("zoneadm", &["-z", "z2", "attach", "-F"]);
    assert_eq!(f.state("z2").as_deref(), Some("installed"));
    f.ok("zoneadm", &["-z", "z2", "detach"]);
    assert_eq!(f.state("z2").as_deref(), Some("configured"));
    assert!(f.zonepath().join("root").is_dir(), "detach leaves the root");
}

#[test]
fn a_booted_zone_runs_its_init_until_it_exits_then_halts() {
    if !aurora_testkit::skip::root_or_skip("a_booted_zone_runs_its_init_until_it_exits_then_halts")
        || !aurora_testkit::skip::tools_or_skip(
            "a_booted_zone_runs_its_init_until_it_exits_then_halts",
            &["busybox"],
        )
    {
        return;
    }
    let f = Fakes::new();
    mode(&f.zonepath(), 0o700);
    let root = f.zonepath().join("root");
    aurora_testkit::write_busybox_rootfs(&root);
    // The init waits for a file that zlogin writes, so the test decides when it exits.
    fs::write(
        root.join("bin/zone-init"),
        "#!/bin/sh\necho init up\nwhile [ ! -e /tmp/stop ]; do usleep 10000; done\n",
    )
    .expect("init");
    mode(&root.join("bin/zone-init"), 0o755);
    f.configure("z3");
    f.ok("zoneadm", &["-z", "z3", "attach", "-F"]);
    f.ok("zoneadm", &["-z", "z3", "boot"]);
    assert_eq!(f.state("z3").as_deref(), Some("running"));
    f.refused(
        "zoneadm",
        &["-z", "z3", "uninstall", "-F"],
        1,
        "invalid for running zones",
    );
    f.refused(
        "zoneadm",
        &["-z", "z3", "detach"],
        1,
        "invalid for running zones",
    );
    f.refused(
        "zoneadm",
        &["-z", "z3", "boot"],
        1,
        "invalid for running zones",
    );
    // zlogin: the command runs in the zone, with its output and exit status.
    let out = f.run("zlogin", &["z3", "head -1 /etc/group; exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "root:x:0:\n");
    // pkill finds the init by name; nothing else is called so.
    assert_eq!(
        f.status("pkill", &["-0", "-z", "z3", "-o", "-x", "zone-init"])
            .0,
        0
    );
    assert_eq!(
        f.status("pkill", &["-0", "-z", "z3", "-o", "-x", "nothing"])
            .0,
        1
    );
    // The init exits: the zone halts by itself (waited for, not slept on).
    f.ok("zlogin", &["z3", "touch /tmp/stop"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while f.state("z3").as_deref() == Some("running") {
        assert!(
            std::time::Instant::now() < deadline,
            "the zone never halted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(f.state("z3").as_deref(), Some("installed"));
    f.refused(
        "zlogin",
        &["z3", "true"],
        1,
        "login allowed only to running zones",
    );
    assert_eq!(
        f.status("pkill", &["-15", "-z", "z3"]).0,
        1,
        "nothing left to signal"
    );
    let console = fs::read_to_string(f.dir.path().join("state/z3.console")).unwrap_or_default();
    assert!(console.contains("init up"), "{console}");
}
