//! The restart policy: its `--restart` text, and the decision after each exit (pure).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::MonitorError;

/// `--restart`: podman's policies. (The engine's `RestartPolicy` is the same four cases; this
/// crate stays below the engine, so it has its own.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicyArg {
    #[default]
    No,
    /// Restart after a non-zero exit, at most N times (`None`: no limit).
    OnFailure(Option<u32>),
    Always,
    /// As `always`; the difference (not after a user's stop) is the `stopped` marker, which
    /// every policy honours in the monitor, and what podadm does at boot.
    UnlessStopped,
}

impl FromStr for RestartPolicyArg {
    type Err = MonitorError;

    fn from_str(text: &str) -> Result<RestartPolicyArg, MonitorError> {
        let refused = || MonitorError::RestartPolicy { text: text.into() };
        match text {
            "no" => Ok(RestartPolicyArg::No),
            "on-failure" => Ok(RestartPolicyArg::OnFailure(None)),
            "always" => Ok(RestartPolicyArg::Always),
            "unless-stopped" => Ok(RestartPolicyArg::UnlessStopped),
            _ => {
                let count = text.strip_prefix("on-failure:").ok_or_else(refused)?;
                // Only digits: u32's parser would take "+3".
                if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(refused());
                }
                let count = count.parse().map_err(|_| refused())?;
                Ok(RestartPolicyArg::OnFailure(Some(count)))
            }
        }
    }
}

impl fmt::Display for RestartPolicyArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicyArg::No => f.write_str("no"),
            RestartPolicyArg::OnFailure(None) => f.write_str("on-failure"),
            RestartPolicyArg::OnFailure(Some(count)) => write!(f, "on-failure:{count}"),
            RestartPolicyArg::Always => f.write_str("always"),
            RestartPolicyArg::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

/// A container that ran at least this long before it exited starts its back-off over.
pub const BACK_OFF_RESET_AFTER: Duration = Duration::from_secs(10);

const FIRST_BACK_OFF: Duration = Duration::from_millis(100);
const MAX_BACK_OFF: Duration = Duration::from_secs(5);

/// The wait before the restart that follows `quick_exits` consecutive exits that each came
/// less than [`BACK_OFF_RESET_AFTER`] after their start: 100 ms, doubled each time, at most 5 s.
pub fn back_off_delay(quick_exits: u32) -> Duration {
    FIRST_BACK_OFF
        .saturating_mul(1u32.checked_shl(quick_exits).unwrap_or(u32::MAX))
        .min(MAX_BACK_OFF)
}

/// Whether a container that exited with `exit_code` after `restarts_so_far` restarts is
/// started again, and after how long. `stopped_by_user` (the `stopped` marker) always wins.
/// The delay assumes every run so far was quick (`back_off_delay(restarts_so_far)`); the
/// monitor, which knows how long each run lasted, waits `back_off_delay` of the quick exits
/// since the last long run instead.
pub fn decide_restart(
    policy: RestartPolicyArg,
    exit_code: i32,
    restarts_so_far: u32,
    stopped_by_user: bool,
) -> Option<Duration> {
    if stopped_by_user {
        return None;
    }
    let restart = match policy {
        RestartPolicyArg::No => false,
        RestartPolicyArg::OnFailure(limit) => {
            exit_code != 0 && limit.is_none_or(|limit| restarts_so_far < limit)
        }
        RestartPolicyArg::Always | RestartPolicyArg::UnlessStopped => true,
    };
    restart.then(|| back_off_delay(restarts_so_far))
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestartPolicyArg::*;

    #[test]
    fn policies_parse_and_print_as_podman_writes_them() {
        for (text, policy) in [
            ("no", No),
            ("on-failure", OnFailure(None)),
            ("on-failure:3", OnFailure(Some(3))),
            ("on-failure:0", OnFailure(Some(0))),
            ("always", Always),
            ("unless-stopped", UnlessStopped),
        ] {
            assert_eq!(text.parse::<RestartPolicyArg>().unwrap(), policy);
            assert_eq!(policy.to_string(), text);
        }
        for bad in [
            "",
            "yes",
            "on-failure:",
            "on-failure:-1",
            "on-failure:+2",
            "on-failure:x",
            "always:2",
            "on-failure:99999999999",
        ] {
            let error = bad.parse::<RestartPolicyArg>().unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn no_never_restarts() {
        assert_eq!(decide_restart(No, 1, 0, false), None);
        assert_eq!(decide_restart(No, 0, 0, false), None);
    }

    #[test]
    fn on_failure_restarts_non_zero_exits_up_to_its_limit() {
        assert_eq!(decide_restart(OnFailure(None), 0, 0, false), None);
        assert_eq!(
            decide_restart(OnFailure(None), 1, 50, false),
            Some(MAX_BACK_OFF)
        );
        assert_eq!(
            decide_restart(OnFailure(Some(2)), 137, 0, false),
            Some(FIRST_BACK_OFF)
        );
        assert_eq!(
            decide_restart(OnFailure(Some(2)), 1, 1, false),
            Some(FIRST_BACK_OFF * 2)
        );
        assert_eq!(decide_restart(OnFailure(Some(2)), 1, 2, false), None);
        assert_eq!(decide_restart(OnFailure(Some(0)), 1, 0, false), None);
    }

    #[test]
    fn always_and_unless_stopped_restart_any_exit() {
        for policy in [Always, UnlessStopped] {
            assert_eq!(decide_restart(policy, 0, 0, false), Some(FIRST_BACK_OFF));
            assert_eq!(
                decide_restart(policy, 1, 3, false),
                Some(FIRST_BACK_OFF * 8)
            );
        }
    }

    #[test]
    fn a_user_stop_wins_over_every_policy() {
        for policy in [
            No,
            OnFailure(None),
            OnFailure(Some(5)),
            Always,
            UnlessStopped,
        ] {
            assert_eq!(decide_restart(policy, 1, 0, true), None);
        }
    }

    #[test]
    fn back_off_doubles_from_100_ms_up_to_5_s() {
        let delays: Vec<u128> = (0..9).map(|n| back_off_delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(back_off_delay(u32::MAX), MAX_BACK_OFF);
    }
}
