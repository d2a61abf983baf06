//! Running the runtime spec's hooks where the backend does not (the zone backend; on Linux
//! libcontainer runs them): each hook gets the container's state JSON on stdin, its own args
//! and env, and a timeout; the first failure stops the list ([`run`]), except for poststart
//! and poststop hooks, whose failures are warnings ([`run_warning_on_failure`]).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::state::StateReport;

/// Runs `hooks` (the spec's list for one stage, named `stage` in errors) in order.
pub fn run(stage: &'static str, hooks: &[Hook], state: &StateReport) -> Result<()> {
    let input =
        serde_json::to_vec(state).map_err(|e| Error::Invalid(format!("state JSON: {e}")))?;
    for hook in hooks {
        run_one(stage, hook, &input)?;
    }
    Ok(())
}

/// Runs every hook of `hooks` (poststart or poststop, named `stage`): the runtime spec says a
/// failure is logged as a warning and the remaining hooks and the lifecycle carry on.
pub fn run_warning_on_failure(stage: &'static str, hooks: &[Hook], state: &StateReport) {
    if hooks.is_empty() {
        return;
    }
    let input = match serde_json::to_vec(state) {
        Ok(input) => input,
        Err(e) => {
            tracing::warn!(id = state.id, "{stage} hooks not run: state JSON: {e}");
            return;
        }
    };
    for hook in hooks {
        if let Err(e) = run_one(stage, hook, &input) {
            tracing::warn!(id = state.id, "{e}, carrying on");
        }
    }
}

fn run_one(stage: &'static str, hook: &Hook, input: &[u8]) -> Result<()> {
    let path = hook.path();
    let failed = |why: String| Error::Invalid(format!("{stage} hook {}: {why}", path.display()));
    let args = hook.args().clone().unwrap_or_default();
    let mut command = Command::new(path);
    if let Some((first, rest)) = args.split_first() {
        use std::os::unix::process::CommandExt;
        command.arg0(first).args(rest);
    }
    if let Some(env) = hook.env() {
        command.env_clear();
        for pair in env {
            if let Some((key, value)) = pair.split_once('=') {
                command.env(key, value);
            }
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state may close stdin early: not an error.
        let _ = stdin.write_all(input);
    }
    let timeout = hook.timeout().map(|s| Duration::from_secs(s.max(1) as u64));
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(failed(format!("it exited with {status}"))),
            Ok(None) => {}
            Err(e) => return Err(failed(format!("waiting for it: {e}"))),
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!(
                "it ran longer than its timeout of {}s",
                timeout.map_or(0, |t| t.as_secs())
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Status;
    use oci_spec::runtime::HookBuilder;

    fn state() -> StateReport {
        StateReport {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            pid: 0,
            status: Status::Created,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            owner: String::new(),
            annotations: Default::default(),
        }
    }

    fn hook(script: &str) -> Hook {
        HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".to_string(), "-c".to_string(), script.to_string()])
            .build()
            .unwrap()
    }

    #[test]
    fn hooks_get_the_state_on_stdin_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let hooks = [
            hook(&format!("cat > {}", log.display())),
            hook(&format!("echo second >> {}", log.display())),
        ];
        run("createRuntime", &hooks, &state()).unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let (json, rest) = text.split_at(text.find('}').unwrap() + 1);
        let back: StateReport = serde_json::from_str(json).unwrap();
        assert_eq!(back, state());
        assert_eq!(rest, "second\n");
    }

    #[test]
    fn a_failing_or_slow_hook_stops_the_list_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let hooks = [hook("exit 3"), hook(&format!("touch {}", marker.display()))];
        let err = run("prestart", &hooks, &state()).unwrap_err().to_string();
        assert!(
            err.contains("prestart hook /bin/sh: it exited with exit status: 3"),
            "{err}"
        );
        assert!(!marker.exists());
        let mut slow = hook("sleep 5");
        slow.set_timeout(Some(1));
        let started = Instant::now();
        let err = run("poststart", &[slow], &state()).unwrap_err().to_string();
        assert!(err.contains("longer than its timeout of 1s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
