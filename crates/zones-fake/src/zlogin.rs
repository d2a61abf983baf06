//! `zlogin [-S] NAME COMMAND…`: the arguments joined with spaces into one string that a
//! shell in the zone runs (as the real zlogin does), with zlogin's own standard streams; its
//! exit status is the command's, 1 when it cannot get into the zone.

use aurora_zones::ZoneState;

use crate::store::Store;
use crate::zoneadm::{in_zone, NodeName};
use crate::{Outcome, Refusal};

pub fn main(args: &[String]) -> Outcome {
    let args: Vec<&String> = args.iter().filter(|a| *a != "-S").collect();
    let Some((name, command)) = args.split_first() else {
        return Err(Refusal::usage("usage: zlogin ZONE [COMMAND…]"));
    };
    if command.is_empty() {
        return Err(Refusal::usage("zlogin: the fake has no interactive login"));
    }
    let zone = {
        let store = Store::open()?;
        store.get(name)?
    };
    let Some(zone) = zone else {
        return Err(Refusal::error(format!("zlogin: zone '{name}' unknown")));
    };
    if zone.state() != ZoneState::Running {
        return Err(Refusal::error(format!(
            "zlogin: login allowed only to running zones ({name} is '{}').",
            zone.state
        )));
    }
    let script: Vec<&str> = command.iter().map(|a| a.as_str()).collect();
    // The zone's node name is its init's.
    let uts = zone
        .init_pid
        .and_then(|pid| std::fs::File::open(format!("/proc/{pid}/ns/uts")).ok());
    let node = uts.as_ref().map_or(NodeName::Host, |f| {
        NodeName::Join(std::os::fd::AsRawFd::as_raw_fd(f))
    });
    let status = in_zone("/bin/sh", &zone.root(), node)
        .args(["-c", &script.join(" ")])
        .status()
        .map_err(|e| Refusal::error(format!("zlogin: cannot enter zone {name}: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|n| 128 + n))
        .unwrap_or(1))
}
