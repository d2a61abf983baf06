//! Entry points for the fuzz targets (`fuzz/`) and, over the committed corpus and regression
//! inputs, for this crate's tests: the parsers of what a registry sends that are otherwise
//! private. A check panics when a property the client relies on does not hold; input that
//! is merely refused is not a failure. Not a stable API.

use crate::auth::challenge::{self, Challenge};

pub use crate::manifest::classify;

/// `WWW-Authenticate` header values: whatever parses is answered, so a Bearer challenge must
/// have a realm to ask, and the same header must always give the same answer.
pub fn check_challenge(data: &[u8]) {
    // reqwest hands the client header values that are visible ASCII; bytes beyond are
    // tried too, as a lossy string, since a proxy may pass anything.
    let text = String::from_utf8_lossy(data);
    let parsed = challenge::parse(&text);
    assert_eq!(
        parsed,
        challenge::parse(&text),
        "{text:?} parses twice alike"
    );
    if let Some(Challenge::Bearer { realm, .. }) = &parsed {
        assert!(
            !realm.is_empty(),
            "{text:?}: a bearer challenge without a realm"
        );
    }
}
