//! `aurora-testenv`: the test environments of `aurora-testkit` (zfs-fuse pools, btrfs loop
//! mounts, docker-registry processes) for the shell: the benchmarks, `demo.sh` and
//! `scripts/registry.sh` use the very code the tests use, with the same locks (one zfs-fuse
//! pool user at a time on the machine), rather than a second implementation in bash.
//!
//! ```text
//! aurora-testenv zfs-pool up --dir DIR [--size 16G]     POOL=…  MOUNTPOINT=…
//! aurora-testenv btrfs up --dir DIR [--size 16G]        MOUNTPOINT=…
//! aurora-testenv registry up --dir DIR --port PORT      ADDRESS=127.0.0.1:PORT STARTED=1|0 …
//! aurora-testenv RESOURCE down --dir DIR
//! ```
//!
//! `up` prints `KEY=VALUE` lines (also kept in `DIR/RESOURCE.env`) and returns while the
//! resource lives on: a keeper process (this binary, `keep`) owns the testkit value, whose
//! drop is the one teardown, and waits on `DIR/RESOURCE.sock` for `down`. `down` returns once
//! the keeper has torn the resource down. The keeper's messages go to `DIR/RESOURCE.log`.

mod keeper;
mod resource;

use std::path::PathBuf;
use std::process::ExitCode;

use resource::{Kind, Options};

const USAGE: &str = "usage:
  aurora-testenv zfs-pool up --dir DIR [--size SIZE]   a zfs-fuse pool (default 16G, sparse)
  aurora-testenv btrfs up --dir DIR [--size SIZE]      a loop-mounted btrfs (default 16G, sparse)
  aurora-testenv registry up --dir DIR --port PORT     a docker-registry on 127.0.0.1:PORT,
                                                       blobs in DIR/data (kept); an open
                                                       registry already there is used (STARTED=0)
  aurora-testenv RESOURCE down --dir DIR               tear down what `up` made in DIR
`up` prints KEY=VALUE lines; SIZE takes K, M, G or T.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(why)) => {
            eprintln!("aurora-testenv: {why}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(why)) => {
            eprintln!("aurora-testenv: {why}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Failed(String),
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Failure::Failed(why)
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    match args {
        [verb, kind, rest @ ..] if verb == "keep" => {
            let kind = Kind::parse(kind).ok_or_else(|| Failure::Usage(format!("no {kind}")))?;
            let options = parse_options(kind, rest)?;
            Ok(keeper::keep(kind, &options)?)
        }
        [kind, action, rest @ ..] => {
            let kind = Kind::parse(kind)
                .ok_or_else(|| Failure::Usage(format!("unknown resource `{kind}`")))?;
            let options = parse_options(kind, rest)?;
            match action.as_str() {
                "up" => Ok(keeper::up(kind, &options)?),
                "down" => Ok(keeper::down(kind, &options.dir)?),
                other => Err(Failure::Usage(format!("unknown action `{other}`"))),
            }
        }
        _ => Err(Failure::Usage("a resource and an action, please".into())),
    }
}

fn parse_options(kind: Kind, args: &[String]) -> Result<Options, Failure> {
    let mut dir = None;
    let mut size = 16u64 << 30;
    let mut port = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--size" if kind != Kind::Registry => {
                size = parse_size(value).map_err(Failure::Usage)?
            }
            "--port" if kind == Kind::Registry => {
                port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| Failure::Usage(format!("invalid port `{value}`")))?,
                )
            }
            other => return Err(Failure::Usage(format!("unknown option `{other}`"))),
        }
    }
    let dir = dir.ok_or_else(|| Failure::Usage("--dir DIR is required".into()))?;
    // Absolute, so the keeper (and the paths printed) do not depend on a working directory.
    let dir = std::path::absolute(&dir)
        .map_err(|e| Failure::Usage(format!("bad --dir {}: {e}", dir.display())))?;
    Ok(Options { dir, size, port })
}

/// `16G` → 16 GiB; a bare number is bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.chars().last() {
        Some('K') => (&text[..text.len() - 1], 10),
        Some('M') => (&text[..text.len() - 1], 20),
        Some('G') => (&text[..text.len() - 1], 30),
        Some('T') => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size `{text}` (like 16G)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
