//! Kubernetes resource quantities: CPUs (`500m`, `1`, `0.25`) and bytes (`64Mi`, `1G`,
//! `129e6`, `1048576`).

/// CPUs as a fraction: `500m` → 0.5. `None` when not a positive quantity.
pub fn cpus(text: &str) -> Option<f64> {
    let text = text.trim();
    let cpus = match text.strip_suffix('m') {
        Some(millis) => millis.parse::<u64>().ok()? as f64 / 1000.0,
        None => plain_number(text)?,
    };
    (cpus > 0.0 && cpus.is_finite()).then_some(cpus)
}

/// Bytes: binary suffixes (Ki, Mi, Gi, Ti, Pi, Ei), decimal ones (k, M, G, T, P, E), an
/// exponent (`129e6`) or none; a fraction is rounded up to a whole byte. `None` when not a
/// positive quantity that fits in 64 bits.
pub fn bytes(text: &str) -> Option<u64> {
    const SUFFIXES: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((text, 1.0));
    let value = plain_number(number)? * factor;
    (value >= 1.0 && value < u64::MAX as f64).then(|| value.ceil() as u64)
}

/// `1`, `0.5`, `129e6`: digits with an optional fraction and exponent (no sign, no `inf`).
fn plain_number(text: &str) -> Option<f64> {
    let starts_with_digit = text.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    let allowed = text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E');
    if !starts_with_digit || !allowed {
        return None;
    }
    text.parse().ok()
}

/// The shortest text for a CPU count as Kubernetes writes it: `500m`, `1`, `1500m`.
pub fn cpus_text(cpus: f64) -> String {
    let millis = (cpus * 1000.0).round() as u64;
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Bytes in the largest binary unit that divides them: `64Mi`, `1Gi`, `1000`.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_are_read_as_kubernetes_writes_them() {
        assert_eq!(cpus("500m"), Some(0.5));
        assert_eq!(cpus("1"), Some(1.0));
        assert_eq!(cpus("0.25"), Some(0.25));
        assert_eq!(cpus("1500m"), Some(1.5));
        for bad in ["", "0", "-1", "m", "1.5m", "one", "inf", "NaN"] {
            assert_eq!(cpus(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bytes_are_read_with_binary_and_decimal_suffixes() {
        assert_eq!(bytes("64Mi"), Some(64 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1k"), Some(1000));
        assert_eq!(bytes("129e6"), Some(129_000_000));
        assert_eq!(bytes("1048576"), Some(1 << 20));
        assert_eq!(bytes("1.5Ki"), Some(1536));
        for bad in ["", "0", "-1Mi", "Mi", "64MB", "64mi", "1e400", "100Ei"] {
            assert_eq!(bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn quantities_are_written_back_in_their_shortest_form() {
        assert_eq!(cpus_text(0.5), "500m");
        assert_eq!(cpus_text(2.0), "2");
        assert_eq!(bytes_text(64 << 20), "64Mi");
        assert_eq!(bytes_text(1_000_000_000), "1000000000");
        assert_eq!(bytes_text(1536), "1536");
    }
}
