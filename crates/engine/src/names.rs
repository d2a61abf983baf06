//! Container ids and names: ids are 64 random hex digits (as podman's), names are the user's
//! or two words chosen at random.

use std::io::Read;

use crate::error::{io, EngineError, Result};

/// A new random id.
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io("/dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "clever", "dapper", "eager", "fancy", "gentle", "happy", "jolly",
    "keen", "lucid", "merry", "nimble", "polite", "quiet", "rapid", "sharp", "steady", "swift",
    "tender", "upbeat", "vivid", "witty", "zealous",
];
const NOUNS: &[&str] = &[
    "aurora", "beacon", "comet", "delta", "ember", "fjord", "glacier", "harbor", "island", "jet",
    "kestrel", "lagoon", "meadow", "nebula", "orbit", "prairie", "quasar", "reef", "summit",
    "tundra", "valley", "willow", "zenith", "canyon", "pulsar",
];

/// A generated name for a container the user did not name (from its id's bytes, so it
/// needs no second random source); the id's first digits keep it unique in practice.
pub fn generated_name(id: &str) -> String {
    let byte = |i: usize| usize::from_str_radix(id.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    format!(
        "{}_{}_{}",
        ADJECTIVES[byte(0) % ADJECTIVES.len()],
        NOUNS[byte(2) % NOUNS.len()],
        id.get(..6).unwrap_or(id)
    )
}

/// Names as podman accepts them.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok && name.len() <= 253 {
        Ok(())
    } else {
        Err(EngineError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn generated_names_are_valid_names() {
        let name = generated_name(&"ab".repeat(32));
        check_name(&name).unwrap();
        assert!(name.ends_with("_ababab"));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "-x", "a b", "a/b", "ä"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("web-1.a_b").unwrap();
    }
}
