//! One record of the format: formatting and parsing, with no I/O.

use chrono::{DateTime, SecondsFormat, Utc};

/// The longest message one record carries (16 KiB, as CRI-O and kubelet): a longer line is
/// written as `P` records of this size followed by an `F` record.
pub const MAX_LINE_SIZE: usize = 16 * 1024;

/// The stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, as written in a record.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn parse(text: &[u8]) -> Option<Stream> {
        match text {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// `2026-12-02T19:35:38.123456789Z`: RFC 3339, UTC, always nine fraction digits, so that
/// records sort as text.
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Appends one record (`TIMESTAMP STREAM TAG MESSAGE\n`) to `out`; `timestamp` as
/// [`format_timestamp`] writes it (formatted once for all the records of a chunk).
pub(crate) fn format_record(
    out: &mut Vec<u8>,
    timestamp: &str,
    stream: Stream,
    partial: bool,
    message: &[u8],
) {
    out.extend_from_slice(timestamp.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(message);
    out.push(b'\n');
}

/// One record as read back: the message without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    pub time: DateTime<Utc>,
    pub stream: Stream,
    pub partial: bool,
    pub message: &'a [u8],
}

/// Parses one record (without its trailing newline). `Err` says what is wrong with it.
pub fn parse_line(record: &[u8]) -> Result<ParsedLine<'_>, &'static str> {
    let mut fields = record.splitn(4, |b| *b == b' ');
    let time = fields.next().ok_or("empty record")?;
    let stream = fields.next().ok_or("no stream field")?;
    let tag = fields.next().ok_or("no P/F tag")?;
    // A record with an empty message may lack the space after its tag.
    let message = fields.next().unwrap_or(b"");
    let time = match parse_own_timestamp(time) {
        Some(time) => time,
        None => {
            let text = std::str::from_utf8(time).map_err(|_| "timestamp is not text")?;
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| "timestamp is not RFC 3339")?
                .with_timezone(&Utc)
        }
    };
    let stream = Stream::parse(stream).ok_or("stream is neither stdout nor stderr")?;
    // CRI tags may carry more flags after P/F, separated by ':' (none are defined yet).
    let partial = match tag.split(|b| *b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err("tag is neither P nor F"),
    };
    Ok(ParsedLine {
        time,
        stream,
        partial,
        message,
    })
}

/// The timestamps this crate writes (`2026-12-02T19:35:38.123456789Z`, fixed width), read
/// without a general RFC 3339 parser: reading a long log is mostly this. `None` for any
/// other form, which the general parser then reads.
fn parse_own_timestamp(text: &[u8]) -> Option<DateTime<Utc>> {
    const SHAPE: &[u8; 30] = b"dddd-dd-ddTdd:dd:dd.dddddddddZ";
    if text.len() != SHAPE.len() {
        return None;
    }
    for (byte, expected) in text.iter().zip(SHAPE) {
        let fits = match expected {
            b'd' => byte.is_ascii_digit(),
            other => byte == other,
        };
        if !fits {
            return None;
        }
    }
    let number = |range: std::ops::Range<usize>| {
        text[range]
            .iter()
            .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'))
    };
    let date = chrono::NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10))?;
    let time = date.and_hms_nano_opt(
        number(11..13),
        number(14..16),
        number(17..19),
        number(20..29),
    )?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 19, 35, 38).unwrap()
            + chrono::Duration::nanoseconds(123_000_789)
    }

    #[test]
    fn a_record_has_nine_fraction_digits_and_the_tag() {
        let mut out = Vec::new();
        format_record(
            &mut out,
            &format_timestamp(time()),
            Stream::Stderr,
            true,
            b"half",
        );
        assert_eq!(out, b"2026-12-02T19:35:38.123000789Z stderr P half\n");
        assert_eq!(format_timestamp(time()), "2026-12-02T19:35:38.123000789Z");
    }

    #[test]
    fn records_parse_back() {
        let parsed = parse_line(b"2026-12-02T19:35:38.123000789Z stdout F a b  c").unwrap();
        assert_eq!(parsed.time, time());
        assert_eq!(parsed.stream, Stream::Stdout);
        assert!(!parsed.partial);
        assert_eq!(parsed.message, b"a b  c");
        let empty = parse_line(b"2026-12-02T19:35:38.123000789Z stdout F").unwrap();
        assert_eq!(empty.message, b"");
    }

    #[test]
    fn other_rfc_3339_forms_are_read_too() {
        let offset = parse_line(b"2026-12-02T20:35:38.123000789+01:00 stdout F x").unwrap();
        assert_eq!(offset.time, time());
        let short = parse_line(b"2026-12-02T19:35:38Z stdout F x").unwrap();
        assert_eq!(
            short.time,
            time() - chrono::Duration::nanoseconds(123_000_789)
        );
        // The fixed-width form with impossible values falls through to the general parser,
        // which refuses it too.
        assert_eq!(
            parse_line(b"2026-02-30T19:35:38.000000000Z stdout F x"),
            Err("timestamp is not RFC 3339")
        );
        assert_eq!(
            parse_line(b"2026-12-02T25:35:38.000000000Z stdout F x"),
            Err("timestamp is not RFC 3339")
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(parse_line(b""), Err("no stream field"));
        assert_eq!(parse_line(b"hello world"), Err("no P/F tag"));
        assert_eq!(
            parse_line(b"yesterday stdout F x"),
            Err("timestamp is not RFC 3339")
        );
        assert_eq!(
            parse_line(b"2026-12-02T19:35:38Z stdin F x"),
            Err("stream is neither stdout nor stderr")
        );
        assert_eq!(
            parse_line(b"2026-12-02T19:35:38Z stdout X x"),
            Err("tag is neither P nor F")
        );
        assert_eq!(
            parse_line(b"\xff\xfe stdout F x"),
            Err("timestamp is not text")
        );
    }
}
