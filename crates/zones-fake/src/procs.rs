//! Which host processes are "in" a zone: those whose root directory is the zone's root or a
//! directory below it (the fakes enter a zone by chroot, and a pod's services chroot further
//! into their containers' roots), as `pkill -z` and a halt see them.

use std::path::Path;
use std::time::{Duration, Instant};

/// A process in the zone: its PID, its name (comm) and its start time (clock ticks since
/// boot, field 22 of /proc/PID/stat).
pub struct Process {
    pub pid: i32,
    pub name: String,
    pub started: u64,
}

/// Every live process whose root is `root` or below it.
pub fn in_zone(root: &Path) -> Vec<Process> {
    let Ok(root) = std::fs::canonicalize(root) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|r| r.starts_with(&root))
        })
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The name is in parentheses and may hold anything; the fields follow the last `)`.
            let (head, tail) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let fields: Vec<&str> = tail.split_whitespace().collect();
            // tail starts at field 3 (state): field 22 is index 19.
            let started = fields.get(19)?.parse().ok()?;
            let zombie = fields.first() == Some(&"Z");
            (!zombie).then_some(Process { pid, name, started })
        })
        .collect()
}

/// Sends `signal` to every process in the zone; how many there were.
pub fn signal_all(root: &Path, signal: i32) -> usize {
    let processes = in_zone(root);
    for p in &processes {
        // SAFETY: kill(2) on a process found in the zone; one already gone is fine.
        unsafe { libc::kill(p.pid, signal) };
    }
    processes.len()
}

/// Kills everything in the zone and waits until nothing is left (a halt). The deadline only
/// guards against a hang: SIGKILL cannot be ignored.
pub fn kill_all(root: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while signal_all(root, libc::SIGKILL) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}
