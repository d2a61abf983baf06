//! One way for a test to say it did not run.
//!
//! A test that cannot run here (not root, zfs-fuse or FUSE missing, a peer tool not
//! installed) calls [`skip`]: the reason goes straight to stderr, past the harness's capture
//! of passing tests, so a skipped test is seen. When the run requires everything
//! ([`REQUIRE_ALL_VAR`] set to `1`, as `test.sh` does for root and `.ci/run` always does), a
//! skip fails the test instead: a green CI then means every test ran.

use std::fmt::Display;
use std::io::Write;

/// Set to `1` by `test.sh` (as root) and `.ci/run`: every test must run, a skip fails.
pub const REQUIRE_ALL_VAR: &str = "AURORA_TEST_REQUIRE_ALL";

/// Whether this run must run every test.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_VAR).is_ok_and(|value| value == "1")
}

/// Records that `test` does not run because of `why`. The caller returns right after.
///
/// # Panics
/// When the run requires every test ([`require_all`]).
pub fn skip(test: &str, why: impl Display) {
    if require_all() {
        panic!("{test} could not run, and {REQUIRE_ALL_VAR}=1 requires every test: {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `true` when running as root; otherwise [`skip`]s `test` ("needs root") and returns `false`.
pub fn root_or_skip(test: &str) -> bool {
    let root = is_root();
    if !root {
        skip(test, "needs root");
    }
    root
}

/// `true` when every tool is on `PATH` (or in the sbin directories); otherwise [`skip`]s
/// `test`, naming the missing tool, and returns `false`.
pub fn tools_or_skip(test: &str, tools: &[&str]) -> bool {
    match tools.iter().find(|tool| crate::find_tool(tool).is_none()) {
        None => true,
        Some(missing) => {
            skip(test, format_args!("`{missing}` is not installed"));
            false
        }
    }
}

/// Returns from the calling test, after [`skip`], unless `condition` holds.
///
/// ```no_run
/// # fn t() {
/// aurora_testkit::skip_unless!(aurora_testkit::skip::is_root(), "t", "needs root");
/// # }
/// ```
#[macro_export]
macro_rules! skip_unless {
    ($condition:expr, $test:expr, $($why:tt)+) => {
        if !$condition {
            $crate::skip::skip($test, format_args!($($why)+));
            return;
        }
    };
}
