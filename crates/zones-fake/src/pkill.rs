//! `pkill -SIG -z NAME [-o] [-x PROGRAM]`: signals the zone's processes (those chrooted into
//! its root). With `-o -x` only the oldest process named PROGRAM (the zone's init, when it is
//! so named); otherwise every process of the zone. Exit 0 when something was signalled, 1 when nothing matched, 2 on a
//! usage error (pkill's own statuses).

use aurora_zones::ZoneState;

use crate::procs;
use crate::store::Store;
use crate::{Outcome, Refusal};

pub fn main(args: &[String]) -> Outcome {
    let mut signal = libc::SIGTERM;
    let mut zone = None;
    let mut exact = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-z" => zone = it.next(),
            "-x" => exact = it.next(),
            "-o" => {}
            flag if flag.starts_with('-') => {
                signal = flag[1..].parse().map_err(|_| {
                    Refusal::usage(format!("pkill: the fake takes numeric signals, not {flag}"))
                })?;
            }
            other => return Err(Refusal::usage(format!("pkill: unexpected {other}"))),
        }
    }
    let Some(name) = zone else {
        return Err(Refusal::usage("pkill: the fake needs -z ZONE"));
    };
    let store = Store::open()?;
    let Some(zone) = store.get(name)? else {
        return Err(Refusal::usage(format!("pkill: unknown zone: {name}")));
    };
    if zone.state() != ZoneState::Running {
        return Ok(1);
    }
    let root = zone.root();
    drop(store);
    let Some(program) = exact else {
        return Ok(if procs::signal_all(&root, signal) > 0 {
            0
        } else {
            1
        });
    };
    // The kernel keeps 15 bytes of a process's name.
    let short: String = program.chars().take(15).collect();
    let oldest = procs::in_zone(&root)
        .into_iter()
        .filter(|p| p.name == short)
        .min_by_key(|p| p.started);
    match oldest {
        // SAFETY: kill(2) on a process found in the zone.
        Some(p) if unsafe { libc::kill(p.pid, signal) } == 0 => Ok(0),
        _ => Ok(1),
    }
}
