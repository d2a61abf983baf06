//! Numbers as podman prints them in `stats`: sizes in decimal units and in binary units with
//! four significant digits (go-units' `HumanSize` and `BytesSize`), durations as Go's
//! `time.Duration` prints them, percentages with two decimals.

use std::time::Duration;

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// `401.4kB`, `25.28GB`, `0B`.
pub fn human_size(bytes: u64) -> String {
    scaled(bytes, 1000.0, &DECIMAL)
}

/// `392KiB`, `23.54GiB`.
pub fn binary_size(bytes: u64) -> String {
    scaled(bytes, 1024.0, &BINARY)
}

fn scaled(bytes: u64, base: f64, units: &[&str; 9]) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit + 1 < units.len() {
        value /= base;
        unit += 1;
    }
    format!("{}{}", four_significant(value), units[unit])
}

/// Go's `%.4g` for 0 ≤ value < 10000: four significant digits, trailing zeros dropped.
fn four_significant(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let integer_digits = (value.log10().floor() as i32 + 1).max(1);
    let decimals = (4 - integer_digits).max(0) as usize;
    let text = format!("{value:.decimals$}");
    // Rounding may add a digit (999.95 → 1000.0): four significant digits still.
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    text
}

/// `12.5%`-style: two decimals, as podman's `%.2f%%`.
pub fn percent(value: f64) -> String {
    format!("{value:.2}%")
}

/// Go's `time.Duration.String()`: `40.980387ms`, `1.5s`, `2m3.25s`, `1h0m0s`.
pub fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let seconds_total = nanos / 1_000_000_000;
    let hours = seconds_total / 3600;
    let minutes = (seconds_total % 3600) / 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / unit` with its fraction's trailing zeros dropped.
fn fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_podman_prints_them() {
        // Figures podman 4.3 printed here.
        assert_eq!(human_size(401_400), "401.4kB");
        assert_eq!(human_size(25_276_071_936), "25.28GB");
        assert_eq!(human_size(67_108_864), "67.11MB");
        assert_eq!(human_size(90), "90B");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(6_115_000), "6.115MB");
        assert_eq!(human_size(999_999), "1000kB");
        assert_eq!(binary_size(392 * 1024), "392KiB");
        assert_eq!(binary_size(25_276_071_936), "23.54GiB");
        assert_eq!(binary_size(1023), "1023B");
    }

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_nanos(40_980_387)), "40.980387ms");
        assert_eq!(go_duration(Duration::from_nanos(27_248_916)), "27.248916ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(123_250)), "2m3.25s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(3601)), "1h0m1s");
    }

    #[test]
    fn percentages_have_two_decimals() {
        assert_eq!(percent(116.786), "116.79%");
        assert_eq!(percent(0.0), "0.00%");
    }
}
