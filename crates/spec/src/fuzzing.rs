//! Checks run on arbitrary input by the fuzz targets (`fuzz/`) and, over the committed
//! corpus and regression inputs, by this crate's tests. Each check panics when a property the
//! rest of Aurora relies on does not hold; an input that is merely refused is not a failure.
//! Not a stable API.

use std::str::FromStr;

use crate::{verify_bytes, Digest, Hasher, ImageRef};

/// Image references and digests: whatever parses must print in a form that parses back to
/// the same reference (names in the store, on the command line and in archives are printed
/// references), the name the store records must name the same image, and a digest must be
/// safe as the two path components of a blob in a layout.
pub fn check_reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_digest(text);
    let Ok(reference) = ImageRef::parse(text) else {
        return;
    };
    assert!(
        docker_grammar().is_match(text),
        "{text:?} is taken, but docker's reference grammar refuses it"
    );
    let shown = reference.to_string();
    let again = ImageRef::parse(&shown)
        .unwrap_or_else(|e| panic!("{text:?} parses, but its normal form does not: {e}"));
    assert_eq!(again, reference, "{text:?} and its normal form {shown:?}");
    let stored = reference.store_name();
    let from_store = ImageRef::parse(&stored)
        .unwrap_or_else(|e| panic!("{text:?} parses, but its store name does not: {e}"));
    assert_eq!(from_store.name(), reference.name(), "store name {stored:?}");
    match reference.tag() {
        Some(tag) => assert_eq!(from_store.tag(), Some(tag), "store name {stored:?}"),
        None => assert_eq!(from_store.digest(), reference.digest(), "{stored:?}"),
    }
    let bare = ImageRef::parse(&reference.name())
        .unwrap_or_else(|e| panic!("{text:?} parses, but its name does not: {e}"));
    assert_eq!(bare.registry(), reference.registry(), "{text:?}");
    assert_eq!(bare.repository(), reference.repository(), "{text:?}");
    assert!(!reference.manifest_reference().is_empty(), "{text:?}");
    assert!(!reference.api_host().is_empty(), "{text:?}");
    if let Some(digest) = reference.digest() {
        check_parsed_digest(text, digest);
    }
}

/// distribution's `ReferenceRegexp` (reference/regexp.go), in ASCII classes. Aurora's parser
/// is stricter (no IPv6 hosts, only registered digest algorithms, lower-case repositories),
/// never looser.
fn docker_grammar() -> &'static regex::Regex {
    static GRAMMAR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    GRAMMAR.get_or_init(|| {
        let alnum = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]*)";
        let component = format!("{alnum}(?:{separator}{alnum})*");
        let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
        let domain = format!("{host}(?::[0-9]+)?");
        let name = format!("(?:{domain}/)?{component}(?:/{component})*");
        let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
        let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
        regex::Regex::new(&format!("^{name}(?::{tag})?(?:@{digest})?$"))
            .expect("docker's reference grammar compiles")
    })
}

fn check_digest(text: &str) {
    if let Ok(digest) = Digest::from_str(text) {
        check_parsed_digest(text, &digest);
    }
}

fn check_parsed_digest(text: &str, digest: &Digest) {
    // A layout keeps a blob at blobs/ALGORITHM/ENCODED: neither may climb or nest.
    let algorithm = digest.algorithm().as_ref();
    let encoded = digest.digest();
    for part in [algorithm, encoded] {
        assert!(
            !part.is_empty() && !part.contains(['/', '\0']) && part != "." && part != "..",
            "{text:?}: digest part {part:?} is not a plain path component"
        );
    }
    assert_eq!(
        Digest::from_str(digest.as_ref()).ok().as_ref(),
        Some(digest),
        "{text:?}: a digest must parse back from its text"
    );
    if let Ok(mut hasher) = Hasher::for_digest(digest) {
        hasher.update(b"");
        let empty = hasher.finish();
        assert_eq!(
            verify_bytes(digest, b"").is_ok(),
            empty == digest.to_string(),
            "{text:?}"
        );
    }
}

/// The committed inputs of fuzz target `target` (`fuzz/corpus/TARGET/`: the seeds, and every
/// input that once failed), sorted by name, for the crates' tests to replay.
pub fn corpus(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("reading the corpus").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// Replays the committed inputs of fuzz target `target` through `check`, naming each input
/// on stderr first (so a failing one is known); at least `min_inputs` must be there, so a
/// corpus that went missing fails instead of passing empty.
pub fn replay(target: &str, min_inputs: usize, mut check: impl FnMut(&[u8])) {
    let inputs = corpus(target);
    assert!(
        inputs.len() >= min_inputs,
        "fuzz/corpus/{target}: {} inputs, at least {min_inputs} expected",
        inputs.len()
    );
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        check(&bytes);
    }
}
