//! The fake zfs (testkit's `FakeZfs`) checked against the real one: the same commands, run on
//! a zfs-fuse pool and on a fake pool, succeed or are refused alike, with the same message —
//! so that the conformance suite's `zfs_fake` driver meets the zfs it stands for. Needs root
//! and zfs-fuse; without them the test is skipped, saying why.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use aurora_storage::command::{Runner, SystemRunner};
use aurora_testkit::{FakeZfs, ZfsPool};

/// What a command came to: its output, or the first line of what it printed on stderr,
/// with the pool's name replaced by `POOL`.
fn outcome(runner: &dyn Runner, pool: &str, args: &[&str]) -> Result<String, String> {
    let args: Vec<OsString> = args
        .iter()
        .map(|a| OsString::from(a.replace("POOL", pool)))
        .collect();
    // zfs-fuse calls a dataset busy for a moment after it was unmounted (as the driver
    // knows): asked again until it settles, with a deadline that only guards against a hang.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match runner.run("zfs", &args) {
            Ok(out) => return Ok(out.replace(pool, "POOL").trim().to_string()),
            Err(e) if e.stderr.contains("dataset is busy") && Instant::now() < deadline => {
                std::thread::yield_now();
            }
            Err(e) => {
                let first = e.stderr.lines().next().unwrap_or_default();
                return Err(first.replace(pool, "POOL"));
            }
        }
    }
}

#[test]
fn the_fake_zfs_accepts_and_refuses_what_zfs_fuse_does() {
    let Some(pool) = ZfsPool::create_or_skip("the_fake_zfs_accepts_and_refuses_what_zfs_fuse_does")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZfs::create(dir.path(), "fakepool");

    // (command, whether it may be asked again while zfs-fuse settles after an unmount)
    let steps: &[&[&str]] = &[
        &["create", "POOL/a"],
        &["create", "POOL/a"],
        &["create", "POOL/x/y"],
        &["create", "-p", "POOL/x/y"],
        &["snapshot", "POOL/a@s"],
        &["snapshot", "POOL/a@s"],
        &["clone", "POOL/a@nope", "POOL/b"],
        &["clone", "POOL/a@s", "POOL/b"],
        &["clone", "POOL/a@s", "POOL/b"],
        &["get", "-H", "-o", "value", "origin", "POOL/b"],
        &["get", "-H", "-o", "value", "type", "POOL/a@s"],
        &["get", "-H", "-o", "value", "mounted", "POOL/b"],
        &["destroy", "-r", "POOL/a"],
        &["umount", "POOL/b"],
        &["get", "-H", "-o", "value", "mounted", "POOL/b"],
        &["umount", "POOL/b"],
        &["rename", "POOL/b", "POOL/a"],
        &["rename", "POOL/b", "POOL/c"],
        &["get", "-H", "-o", "value", "origin", "POOL/c"],
        &["mount", "POOL/c"],
        &["mount", "POOL/c"],
        &["get", "-H", "-o", "value", "type", "POOL/nope"],
        &[
            "list",
            "-H",
            "-o",
            "name,origin",
            "-r",
            "-t",
            "filesystem",
            "POOL",
        ],
        &["umount", "POOL/c"],
        &["destroy", "-r", "POOL/c"],
        &["umount", "POOL/a"],
        &["destroy", "-r", "POOL/a"],
        &["list", "-H", "-o", "name", "-r", "-t", "all", "POOL"],
    ];
    let mut differences = Vec::new();
    for args in steps {
        let real = outcome(&SystemRunner, pool.name(), args);
        let faked = outcome(&fake, fake.pool(), args);
        if real != faked {
            differences.push(format!(
                "zfs {}:\n  zfs-fuse: {real:?}\n  fake:     {faked:?}",
                args.join(" ")
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
