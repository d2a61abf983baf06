//! A running container's resource use: its runtime's `events --stats` parsed once (runc's
//! form and youki's, which runz prints), with the byte counters of its network namespace
//! beside them. podadm's `stats` and the CRI server's statistics both read this type.

use serde_json::Value;

/// One sample of a container's resource use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceUse {
    /// CPU time used, all cores, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory charged to the container's cgroup (page cache included).
    pub memory_usage: u64,
    /// The cgroup's memory limit; `None` when it has none (the kernel's "unlimited").
    pub memory_limit: Option<u64>,
    /// Inactive file pages, which the kernel reclaims first (not part of the working set).
    pub memory_inactive_file: u64,
    /// Anonymous memory (rss).
    pub memory_rss: u64,
    pub pids: u64,
    /// Bytes read from and written to block devices.
    pub block_read: u64,
    pub block_write: u64,
    /// Bytes received and sent by the interfaces of its network namespace, loopback aside;
    /// `None` when they could not be read.
    pub net: Option<NetBytes>,
}

/// Received and sent bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetBytes {
    pub received: u64,
    pub sent: u64,
}

/// cgroup v1 reports no limit as the largest page-aligned counter; v2 as "max", which the
/// runtimes print as u64::MAX. Anything from here up is no limit.
const UNLIMITED_FROM: u64 = 0x7FFF_FFFF_FFFF_F000;

impl ResourceUse {
    /// Parses `events --stats` output (`{"type":"stats","data":{…}}`, or the data alone).
    /// Fields a runtime does not report are zero.
    pub fn from_runtime(stats: &Value) -> ResourceUse {
        let data = stats.get("data").unwrap_or(stats);
        let number = |paths: &[&str]| {
            paths
                .iter()
                .find_map(|p| data.pointer(p).and_then(Value::as_u64))
        };
        // youki: memory.memory and memory.stats; runc: memory.usage and memory.raw.
        let memory_limit = number(&["/memory/memory/limit", "/memory/usage/limit"])
            .filter(|limit| *limit < UNLIMITED_FROM);
        let (block_read, block_write) = block_bytes(data);
        ResourceUse {
            cpu_ns: number(&["/cpu/usage/usage_total", "/cpu/usage/total"]).unwrap_or(0),
            memory_usage: number(&["/memory/memory/usage", "/memory/usage/usage"]).unwrap_or(0),
            memory_limit,
            memory_inactive_file: number(&[
                "/memory/stats/total_inactive_file",
                "/memory/stats/inactive_file",
                "/memory/raw/total_inactive_file",
                "/memory/raw/inactive_file",
            ])
            .unwrap_or(0),
            memory_rss: number(&[
                "/memory/stats/total_rss",
                "/memory/stats/anon",
                "/memory/raw/total_rss",
                "/memory/raw/anon",
            ])
            .unwrap_or(0),
            pids: number(&["/pids/current"]).unwrap_or(0),
            block_read,
            block_write,
            net: None,
        }
    }

    /// Memory in use less what the kernel reclaims first: kubelet's working set.
    pub fn working_set(&self) -> u64 {
        self.memory_usage.saturating_sub(self.memory_inactive_file)
    }
}

/// Read and written bytes, summed over devices: youki's `blkio.service_bytes` (`op_type`),
/// runc's `blkio.ioServiceBytesRecursive` (`op`); v1 names the operations `Read`/`Write`
/// (beside `Sync`, `Async` and `Total`, left out), v2 `read`/`write`.
fn block_bytes(data: &Value) -> (u64, u64) {
    let entries = ["/blkio/service_bytes", "/blkio/ioServiceBytesRecursive"]
        .iter()
        .filter_map(|p| data.pointer(p).and_then(Value::as_array))
        .flatten();
    let (mut read, mut write) = (0u64, 0u64);
    for entry in entries {
        let op = entry
            .get("op_type")
            .or_else(|| entry.get("op"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = entry.get("value").and_then(Value::as_u64).unwrap_or(0);
        if op.eq_ignore_ascii_case("read") {
            read = read.saturating_add(value);
        } else if op.eq_ignore_ascii_case("write") {
            write = write.saturating_add(value);
        }
    }
    (read, write)
}

/// The byte counters of the network namespace process `pid` is in, loopback aside.
pub(crate) fn net_bytes_of(pid: i32) -> Option<NetBytes> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    Some(parse_net_dev(&text))
}

/// Sums `/proc/net/dev`'s receive and transmit bytes (the first and ninth counters after
/// the interface's name) over every interface but `lo`; lines that do not parse are
/// passed over.
fn parse_net_dev(text: &str) -> NetBytes {
    let mut total = NetBytes::default();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters
            .split_whitespace()
            .map_while(|f| f.parse().ok())
            .collect();
        if let (Some(received), Some(sent)) = (fields.first(), fields.get(8)) {
            total.received = total.received.saturating_add(*received);
            total.sent = total.sent.saturating_add(*sent);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn youkis_form_as_runz_prints_it() {
        // Trimmed from `runz events --stats` on a cgroup v1 host.
        let stats = json!({"type": "stats", "id": "c", "data": {
            "blkio": {"service_bytes": [
                {"major": 8, "minor": 0, "op_type": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op_type": "Write", "value": 8192},
                {"major": 8, "minor": 0, "op_type": "Total", "value": 12288},
                {"major": 8, "minor": 16, "op_type": "Write", "value": 1}
            ]},
            "cpu": {"usage": {"usage_total": 8548501, "usage_user": 0}},
            "memory": {
                "memory": {"limit": 9223372036854771712u64, "usage": 5713920},
                "stats": {"total_inactive_file": 5242880, "total_rss": 49152}
            },
            "pids": {"current": 1, "limit": 2048}
        }});
        assert_eq!(
            ResourceUse::from_runtime(&stats),
            ResourceUse {
                cpu_ns: 8548501,
                memory_usage: 5713920,
                memory_limit: None,
                memory_inactive_file: 5242880,
                memory_rss: 49152,
                pids: 1,
                block_read: 4096,
                block_write: 8193,
                net: None,
            }
        );
    }

    #[test]
    fn runcs_form() {
        let data = json!({
            "blkio": {"ioServiceBytesRecursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 10},
                {"major": 8, "minor": 0, "op": "write", "value": 20}
            ]},
            "cpu": {"usage": {"total": 77}},
            "memory": {
                "usage": {"limit": 67108864, "usage": 1000},
                "raw": {"inactive_file": 400, "anon": 300}
            },
            "pids": {"current": 3}
        });
        let usage = ResourceUse::from_runtime(&data);
        assert_eq!(usage.cpu_ns, 77);
        assert_eq!(usage.memory_limit, Some(67108864));
        assert_eq!(usage.working_set(), 600);
        assert_eq!(usage.memory_rss, 300);
        assert_eq!((usage.block_read, usage.block_write), (10, 20));
        assert_eq!(usage.pids, 3);
    }

    #[test]
    fn v2_unlimited_and_missing_fields() {
        let usage = ResourceUse::from_runtime(&json!({"memory": {"memory": {"limit": u64::MAX}}}));
        assert_eq!(usage, ResourceUse::default());
        assert_eq!(
            ResourceUse::from_runtime(&json!("odd")),
            ResourceUse::default()
        );
    }

    #[test]
    fn net_dev_sums_every_interface_but_loopback() {
        let text = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:      90       1    0    0    0     0          0         0      344       4    0    0    0     0       0          0
  eth1: 1000 2 0 0 0 0 0 0 2000 3 0 0 0 0 0 0
 bad: x y
";
        assert_eq!(
            parse_net_dev(text),
            NetBytes {
                received: 1090,
                sent: 2344
            }
        );
        assert_eq!(parse_net_dev(""), NetBytes::default());
    }
}
