//! A lab for the privileged tests: a store root and runroot of its own under
//! `/tmp/aurora-network-tests/TEST` (a fixed place, so that the leftovers of an interrupted
//! run are found and removed at the start of the next), the real netavark, and a drop guard
//! that tears down what a failed test left attached.

#![allow(dead_code)] // each test file uses its own part of the lab

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aurora_network::{
    Attachment, Netavark, Netns, NetworkBackend, NetworkCreate, Networks, PerNetwork, PortMapping,
    SetupResult,
};
use aurora_testkit::skip;

/// netavark and iptables are host-wide: the tests of a binary take turns.
static SERIAL: Mutex<()> = Mutex::new(());

pub struct Lab {
    pub base: PathBuf,
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub networks: Networks,
    pub backend: Netavark,
    bridges: Vec<String>,
    attached: Vec<Attachment>,
    _turn: MutexGuard<'static, ()>,
}

impl Lab {
    /// A fresh lab, or `None` when the test cannot run here (it has been skipped).
    pub fn new(test: &str, bridges: &[&str]) -> Option<Lab> {
        if !skip::root_or_skip(test)
            || !skip::tools_or_skip(test, &["nsenter", "busybox", "curl", "iptables-save", "ip"])
        {
            return None;
        }
        let turn = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let base = Path::new("/tmp/aurora-network-tests").join(test);
        let bridges: Vec<String> = bridges.iter().map(|b| b.to_string()).collect();
        clean_leftovers(&base, &bridges);
        let root = base.join("root");
        let runroot = base.join("run");
        std::fs::create_dir_all(&runroot).unwrap();
        let networks = Networks::open(&root, &runroot).unwrap();
        let backend = match Netavark::find(&networks) {
            Ok(backend) => backend,
            Err(e) => {
                skip::skip(test, e);
                return None;
            }
        };
        Some(Lab {
            base,
            root,
            runroot,
            networks,
            backend,
            bridges,
            attached: Vec::new(),
            _turn: turn,
        })
    }

    /// A fresh lab with one user network `name` on `bridge` with `subnet`, or `None` when
    /// the test cannot run here.
    pub fn with_network(
        test: &str,
        name: &str,
        bridge: &str,
        subnet: &str,
        dns: bool,
    ) -> Option<Lab> {
        let lab = Lab::new(test, &[bridge])?;
        lab.network(name, bridge, subnet, dns);
        Some(lab)
    }

    /// A user network on `bridge` with `subnet`.
    pub fn network(&self, name: &str, bridge: &str, subnet: &str, dns: bool) {
        self.networks
            .create(&NetworkCreate {
                name: name.into(),
                subnet: Some(subnet.into()),
                interface_name: Some(bridge.into()),
                dns: Some(dns),
                ..Default::default()
            })
            .unwrap();
    }

    /// A namespace for container `id` attached to `network` as eth0.
    pub fn attach(
        &mut self,
        id: &str,
        name: &str,
        network: &str,
        aliases: &[&str],
        ports: Vec<PortMapping>,
    ) -> aurora_network::Result<(Attachment, SetupResult)> {
        let mut attachment = attachment_in(&self.runroot, id, name, network, aliases);
        attachment.ports = ports;
        match self.backend.setup(&attachment) {
            Ok(result) => {
                let mut kept = attachment.clone();
                kept.ports = result.ports.clone();
                self.attached.push(kept.clone());
                Ok((kept, result))
            }
            Err(e) => {
                Netns::remove(&attachment.netns).unwrap();
                Err(e)
            }
        }
    }

    /// Has the drop guard tear `attachment` down if the test does not.
    pub fn track(&mut self, attachment: &Attachment) {
        self.attached.push(attachment.clone());
    }

    /// Tears `attachment` down and removes its namespace, as the engine will.
    pub fn detach(&mut self, attachment: &Attachment) {
        self.backend.teardown(attachment).unwrap();
        Netns::remove(&attachment.netns).unwrap();
        self.attached
            .retain(|a| a.container_id != attachment.container_id);
    }
}

/// An attachment of container `id` (named `name`) to `network` as eth0, in a new namespace
/// under `runroot`; no ports.
pub fn attachment_in(
    runroot: &Path,
    id: &str,
    name: &str,
    network: &str,
    aliases: &[&str],
) -> Attachment {
    let netns = Netns::create(runroot, id).unwrap();
    Attachment {
        container_id: id.into(),
        container_name: name.into(),
        netns: netns.path,
        networks: vec![(
            network.into(),
            PerNetwork {
                interface_name: "eth0".into(),
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
                static_ips: Vec::new(),
            },
        )],
        ports: Vec::new(),
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for attachment in std::mem::take(&mut self.attached) {
            let _ = self.backend.teardown(&attachment);
            let _ = Netns::remove(&attachment.netns);
        }
        clean_leftovers(&self.base, &self.bridges);
    }
}

/// Removes what an earlier run of the test may have left: its aardvark-dns (by the pid it
/// wrote in a runroot), namespaces, the runroots' shared mounts (`run`, and another store's
/// such as `other-run`), the bridges, the files.
fn clean_leftovers(base: &Path, bridges: &[String]) {
    let runroots = std::fs::read_dir(base)
        .map(|entries| entries.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for runroot in runroots.iter().filter(|dir| dir.join("netns").is_dir()) {
        clean_runroot(runroot);
    }
    for bridge in bridges {
        if Path::new("/sys/class/net").join(bridge).exists() {
            let _ = Command::new("ip").args(["link", "del", bridge]).output();
        }
    }
    let _ = std::fs::remove_dir_all(base);
}

/// A runroot's aardvark-dns, namespaces and shared `netns` mount.
fn clean_runroot(runroot: &Path) {
    let pid_file = runroot.join("netavark/aardvark-dns/aardvark.pid");
    if let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    {
        // SAFETY: kill(2) of the aardvark-dns this test's netavark started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    if let Ok(entries) = std::fs::read_dir(runroot.join("netns")) {
        for entry in entries.flatten() {
            let _ = Netns::remove(&entry.path());
        }
    }
    let _ = rustix::mount::unmount(runroot.join("netns"), rustix::mount::UnmountFlags::DETACH);
}

/// A container ID: 64 hex digits, `prefix` then digits new to this run, so that firewall
/// rules an interrupted run left (netavark finds a container's rules by its ID) are never
/// taken for this run's.
pub fn container_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let id = format!("{prefix}{:08x}{nanos:032x}", std::process::id());
    format!("{id:0<64}")[..64].to_string()
}

/// Runs `args` in the network namespace at `netns` (nsenter; the mount namespace stays the
/// host's, so busybox and the files are there).
pub fn in_netns(netns: &Path, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(args)
        .output()
        .unwrap()
}

/// Polls `check` until it gives a value; `what` names the event in the hang guard's panic.
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `iptables-save`'s rules (counters dropped) that mention any of `needles`.
pub fn iptables_rules_about(needles: &[&str]) -> Vec<String> {
    let out = Command::new("iptables-save").output().unwrap();
    assert!(out.status.success(), "iptables-save failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| match line.rfind(" [") {
            Some(i) if line.starts_with(':') => line[..i].to_string(),
            _ => line.to_string(),
        })
        .filter(|line| needles.iter().any(|n| line.contains(n)))
        .collect()
}

/// The host-side interfaces enslaved to `bridge` (netavark's veths).
pub fn ports_of_bridge(bridge: &str) -> Vec<String> {
    let dir = Path::new("/sys/class/net").join(bridge).join("brif");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `path` is a mount point in this mount namespace.
pub fn is_mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_string_lossy();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|point| point == path)
}
