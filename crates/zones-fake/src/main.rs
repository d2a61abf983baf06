//! Stateful fakes of illumos' zone tools for tests on Linux: one binary that acts as
//! `zonecfg`, `zoneadm`, `zlogin` or `pkill` by the name it is called with (a link named so, or
//! the tool's name as its first argument). Zones live in `$AURORA_ZONES_FAKE_STATE` (else
//! `state/` beside the link), move
//! through zoneadm's states (configured → installed → ready → running → installed …) and
//! every command the real tool refuses in a state is refused here, with its exit status and
//! the shape of its message: tests then check outcomes, not command lines (as omicron's
//! fakes do). A booted zone's init really runs, chrooted into `ZONEPATH/root`, and zlogin
//! runs its command there, so a zone's processes give real output and exit statuses. A zone
//! has its own node name: its init starts in a UTS namespace of its own, which zlogin joins.
//! Running a zone needs root (chroot).

mod mounts;
mod pkill;
mod procs;
mod store;
mod zlogin;
mod zoneadm;
mod zonecfg;

use std::ffi::OsString;
use std::path::Path;

/// Why a command is refused: the tool's exit status and its message.
#[derive(Debug)]
pub struct Refusal {
    pub code: i32,
    pub message: String,
}

/// The tools' exit statuses (illumos' Z_ERR and Z_USAGE).
pub const Z_ERR: i32 = 1;
pub const Z_USAGE: i32 = 2;

impl Refusal {
    pub fn error(message: impl Into<String>) -> Self {
        Refusal {
            code: Z_ERR,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Refusal {
            code: Z_USAGE,
            message: message.into(),
        }
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        Refusal::error(format!("fake state: {e}"))
    }
}

type Outcome = Result<i32, Refusal>;

fn main() {
    let mut args: Vec<String> = std::env::args_os()
        .map(|a: OsString| a.to_string_lossy().into_owned())
        .collect();
    let called = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
        .unwrap_or_default();
    let tool = if matches!(called.as_str(), "zonecfg" | "zoneadm" | "zlogin" | "pkill") {
        args.remove(0);
        called
    } else if args.len() > 1 {
        args.remove(0);
        args.remove(0)
    } else {
        String::new()
    };
    let outcome = match tool.as_str() {
        "zonecfg" => zonecfg::main(&args),
        "zoneadm" => zoneadm::main(&args),
        "zoneadmd" => zoneadm::zoneadmd(&args),
        "zlogin" => zlogin::main(&args),
        "pkill" => pkill::main(&args),
        _ => Err(Refusal::usage(
            "usage: zones-fake zonecfg|zoneadm|zlogin|pkill ARGS… (or a link named so)",
        )),
    };
    match outcome {
        Ok(code) => std::process::exit(code),
        Err(refusal) => {
            eprintln!("{}", refusal.message);
            std::process::exit(refusal.code);
        }
    }
}

/// `-z NAME` and what follows it, as zonecfg, zoneadm and pkill take it.
fn zone_arg<'a>(tool: &str, args: &'a [String]) -> Result<(&'a str, &'a [String]), Refusal> {
    match args {
        [flag, name, rest @ ..] if flag == "-z" => Ok((name, rest)),
        _ => Err(Refusal::usage(format!(
            "{tool}: a zone must be given with -z NAME"
        ))),
    }
}
