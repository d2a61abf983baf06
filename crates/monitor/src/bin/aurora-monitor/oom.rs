//! Whether the kernel's OOM killer ended the container: the kill count of its memory cgroup
//! (cgroup v1 `memory.oom_control`, v2 `memory.events`), which stays until the runtime
//! deletes the cgroup — after the exit is recorded.

use std::path::{Path, PathBuf};

/// The file that counts OOM kills in one container's memory cgroup.
pub struct OomCounter {
    file: PathBuf,
}

impl OomCounter {
    /// The counter of `pid`'s memory cgroup (`None` where there is none to read: no cgroups,
    /// or not Linux).
    pub fn of_process(pid: i32) -> Option<OomCounter> {
        let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let unified = if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
            Path::new("/sys/fs/cgroup/unified")
        } else {
            Path::new("/sys/fs/cgroup")
        };
        let file = counter_file(&membership, Path::new("/sys/fs/cgroup/memory"), unified)?;
        Some(OomCounter { file })
    }

    /// Whether the OOM killer killed a process of the cgroup.
    pub fn killed(&self) -> bool {
        std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|text| oom_kills(&text))
            .is_some_and(|kills| kills > 0)
    }
}

/// From `/proc/PID/cgroup`: the v1 memory controller's `memory.oom_control`, else the v2
/// group's `memory.events`.
fn counter_file(membership: &str, v1_memory: &Path, v2: &Path) -> Option<PathBuf> {
    let mut unified = None;
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some(v1_memory.join(relative).join("memory.oom_control"));
        }
        if controllers.is_empty() {
            unified = Some(v2.join(relative).join("memory.events"));
        }
    }
    unified
}

/// The `oom_kill N` line of either file.
fn oom_kills(counters: &str) -> Option<u64> {
    counters
        .lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|count| count.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_controller_wins_over_the_unified_group() {
        let hybrid = "12:pids:/runz/c1\n5:memory:/runz/c1\n0::/runz/c1\n";
        assert_eq!(
            counter_file(hybrid, Path::new("/v1"), Path::new("/v2")),
            Some(PathBuf::from("/v1/runz/c1/memory.oom_control"))
        );
        let v2 = "0::/system.slice/c2\n";
        assert_eq!(
            counter_file(v2, Path::new("/v1"), Path::new("/v2")),
            Some(PathBuf::from("/v2/system.slice/c2/memory.events"))
        );
        assert_eq!(
            counter_file("garbage", Path::new("/v1"), Path::new("/v2")),
            None
        );
    }

    #[test]
    fn the_kill_count_is_read_from_either_format() {
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            Some(2)
        );
        assert_eq!(
            oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n"),
            Some(1)
        );
        assert_eq!(oom_kills("oom_kill_disable 0\n"), None);
    }
}
