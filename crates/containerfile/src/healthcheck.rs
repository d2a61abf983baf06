//! HEALTHCHECK: `NONE`, or `[--interval=D] [--timeout=D] [--start-period=D]
//! [--start-interval=D] [--retries=N] CMD command`, turned into the image config's form.
//! Durations are Go's (`30s`, `1m30s`, `500ms`, `1.5h`), as docker reads them.

use crate::flags::{Flags, Kind};
use crate::model::Healthcheck;
use crate::words;

const FLAGS: &[(&str, Kind)] = &[
    ("interval", Kind::Str),
    ("timeout", Kind::Str),
    ("start-period", Kind::Str),
    ("start-interval", Kind::Str),
    ("retries", Kind::Str),
];

/// Docker's smallest interval: anything shorter (but zero, "the default") is refused.
const MINIMUM_NS: u64 = 1_000_000;

pub(crate) fn parse(flag_words: &[String], args: &str) -> Result<Healthcheck, String> {
    let args = args.trim();
    let (kind, command) = match args.find(char::is_whitespace) {
        Some(at) => (&args[..at], args[at..].trim_start()),
        None => (args, ""),
    };
    if kind.is_empty() {
        return Err("HEALTHCHECK requires at least one argument".to_string());
    }
    let flags = Flags::parse("HEALTHCHECK", flag_words, FLAGS)?;
    let kind = kind.to_ascii_uppercase();
    let test = match kind.as_str() {
        "NONE" => {
            if !command.is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".to_string());
            }
            // Docker ignores flags here; they would mean nothing, so they are refused.
            if !flags.is_empty() {
                return Err("HEALTHCHECK NONE takes no flags".to_string());
            }
            vec!["NONE".to_string()]
        }
        "CMD" => match words::parse_json_array(command)? {
            Some(args) if args.is_empty() => {
                return Err("missing command after HEALTHCHECK CMD".to_string())
            }
            Some(args) => std::iter::once("CMD".to_string()).chain(args).collect(),
            None if command.is_empty() => {
                return Err("missing command after HEALTHCHECK CMD".to_string())
            }
            None => vec!["CMD-SHELL".to_string(), command.to_string()],
        },
        other => return Err(format!("unknown type {other:?} in HEALTHCHECK (try CMD)")),
    };
    let retries = match flags.string("retries") {
        None => None,
        Some(text) => {
            let n: i64 = text
                .parse()
                .map_err(|_| format!("--retries: {text:?} is not a number"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(
                u32::try_from(n)
                    .ok()
                    .filter(|&n| n <= i32::MAX as u32)
                    .ok_or_else(|| format!("--retries: {n} is out of range"))?,
            )
        }
    };
    Ok(Healthcheck {
        test: Some(test),
        interval: interval(&flags, "interval")?,
        timeout: interval(&flags, "timeout")?,
        start_period: interval(&flags, "start-period")?,
        start_interval: interval(&flags, "start-interval")?,
        retries,
    })
}

fn interval(flags: &Flags, name: &str) -> Result<Option<u64>, String> {
    let Some(text) = flags.string(name) else {
        return Ok(None);
    };
    let ns = go_duration(&text).map_err(|e| format!("--{name}: {e}"))?;
    if ns < 0 {
        return Err(format!("--{name} cannot be negative"));
    }
    let ns = ns as u64;
    if ns != 0 && ns < MINIMUM_NS {
        return Err(format!("--{name} cannot be less than 1ms"));
    }
    Ok(Some(ns))
}

/// Go's `time.ParseDuration`: an optionally signed sequence of decimal numbers, each with
/// an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`); `0` alone is
/// allowed. Nanoseconds; overflow is an error.
pub(crate) fn go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let whole = &rest[..digits];
        rest = &rest[digits..];
        let mut fraction = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            fraction = &after[..n];
            rest = &after[n..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c != '.' && !c.is_ascii_digit())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {text:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        let overflow = || format!("invalid duration {text:?} (too large)");
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(overflow)?;
        // The fraction's digits beyond the unit's precision add nothing, as in Go.
        let mut part = scale;
        for digit in fraction.bytes() {
            part /= 10;
            if part == 0 {
                break;
            }
            value = value
                .checked_add(u64::from(digit - b'0') * part)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(value).ok_or_else(overflow)?;
    }
    let limit = if negative {
        1u64 << 63
    } else {
        i64::MAX as u64
    };
    if total > limit {
        return Err(format!("invalid duration {text:?} (too large)"));
    }
    Ok(if negative {
        0i64.wrapping_sub_unsigned(total)
    } else {
        total as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration("30s"), Ok(30_000_000_000));
        assert_eq!(go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(go_duration("500ms"), Ok(500_000_000));
        assert_eq!(go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(go_duration(".5s"), Ok(500_000_000));
        assert_eq!(go_duration("1.s"), Ok(1_000_000_000));
        assert_eq!(go_duration("2us"), Ok(2_000));
        assert_eq!(go_duration("2µs"), Ok(2_000));
        assert_eq!(go_duration("1.0000000009s"), Ok(1_000_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert_eq!(go_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(go_duration("2562047h47m16.854775807s"), Ok(i64::MAX));
        for bad in [
            "",
            "-",
            "s",
            "1",
            "1x",
            ".s",
            "1..5s",
            "3000000h",
            "99999999999999999999s",
        ] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forms() {
        let none = parse(&[], "NONE").unwrap();
        assert_eq!(none.test, Some(words(&["NONE"])));
        let shell = parse(
            &words(&["--interval=5m", "--retries=3"]),
            "cmd curl -f http://x/ || exit 1",
        )
        .unwrap();
        assert_eq!(
            shell.test,
            Some(words(&["CMD-SHELL", "curl -f http://x/ || exit 1"]))
        );
        assert_eq!(shell.interval, Some(300_000_000_000));
        assert_eq!(shell.retries, Some(3));
        assert_eq!(shell.timeout, None);
        let exec = parse(&[], r#"CMD ["curl", "-f", "x"]"#).unwrap();
        assert_eq!(exec.test, Some(words(&["CMD", "curl", "-f", "x"])));
        let zero = parse(&words(&["--start-period=0s"]), "CMD true").unwrap();
        assert_eq!(zero.start_period, Some(0));
    }

    #[test]
    fn refusals() {
        for (flags, args) in [
            (&[][..], ""),
            (&[][..], "NONE x"),
            (&["--interval=1s"][..], "NONE"),
            (&[][..], "CMD"),
            (&[][..], "CMD []"),
            (&[][..], "RUN x"),
            (&["--interval=1"][..], "CMD x"),
            (&["--interval=10us"][..], "CMD x"),
            (&["--timeout=-1s"][..], "CMD x"),
            (&["--retries=-1"][..], "CMD x"),
            (&["--retries=x"][..], "CMD x"),
            (&["--retries=3000000000"][..], "CMD x"),
            (&["--bogus=1"][..], "CMD x"),
            (&[][..], r#"CMD ["a", 1]"#),
        ] {
            assert!(parse(&words(flags), args).is_err(), "{flags:?} {args}");
        }
    }
}
