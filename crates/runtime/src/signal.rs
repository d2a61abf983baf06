//! Signal names as `kill` and runc accept them: `TERM`, `SIGTERM`, `15`, `RTMIN+3`.

use crate::error::{Error, Result};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// The signal number for `text`; numbers must name a real signal (1 to the last real-time one).
pub fn parse(text: &str) -> Result<i32> {
    let unknown = || Error::UnknownSignal(text.to_string());
    let trimmed = text.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return if (1..=max_signal()).contains(&number) {
            Ok(number)
        } else {
            Err(unknown())
        };
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, number)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(number);
    }
    realtime(name).ok_or_else(unknown)
}

/// `RTMIN`, `RTMIN+N`, `RTMAX`, `RTMAX-N`.
fn realtime(name: &str) -> Option<i32> {
    let (min, max) = realtime_range()?;
    let number = if let Some(rest) = name.strip_prefix("RTMIN") {
        min + offset(rest, '+')?
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        max - offset(rest, '-')?
    } else {
        return None;
    };
    (min..=max).contains(&number).then_some(number)
}

fn offset(rest: &str, sign: char) -> Option<i32> {
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix(sign)?.parse().ok()
}

#[cfg(target_os = "linux")]
fn realtime_range() -> Option<(i32, i32)> {
    Some((libc::SIGRTMIN(), libc::SIGRTMAX()))
}

#[cfg(not(target_os = "linux"))]
fn realtime_range() -> Option<(i32, i32)> {
    None
}

fn max_signal() -> i32 {
    realtime_range().map_or(libc::SIGSYS, |(_, max)| max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_prefixes_and_numbers() {
        assert_eq!(parse("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse("SIGKILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse("sigusr1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse("9").unwrap(), 9);
        #[cfg(target_os = "linux")]
        {
            assert_eq!(parse("RTMIN").unwrap(), libc::SIGRTMIN());
            assert_eq!(parse("SIGRTMIN+2").unwrap(), libc::SIGRTMIN() + 2);
            assert_eq!(parse("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for text in [
            "", "0", "-1", "65", "FOO", "SIG", "RTMIN+99", "RTMAX+1", "9x",
        ] {
            assert!(
                matches!(parse(text), Err(Error::UnknownSignal(_))),
                "{text}"
            );
        }
    }
}
