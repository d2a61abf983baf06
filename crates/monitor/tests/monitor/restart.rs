//! Restart policies, through the real runtime: the count, the log across runs, and the
//! `stopped` marker.

use crate::harness::*;

#[test]
fn on_failure_2_restarts_exactly_twice() {
    if !can_run("on_failure_2_restarts_exactly_twice") {
        return;
    }
    for runtime in Runtime::all() {
        let bundle = BusyboxBundle::shell("echo run; exit 1");
        let options = Options {
            restart: Some("on-failure:2"),
            ..Options::started()
        };
        let monitored = Monitored::start(runtime, &bundle, options);
        let exit = monitored.wait_monitor_exit();
        assert_eq!((exit.exit_code, exit.restarts), (1, 2), "{runtime:?}");
        assert_eq!(monitored.status().expect("status").restarts, 2);
        assert_eq!(monitored.log_records(), ["stdout F run"; 3], "{runtime:?}");
    }
}

#[test]
fn always_restarts_until_the_stopped_marker() {
    if !can_run("always_restarts_until_the_stopped_marker") {
        return;
    }
    for runtime in Runtime::all() {
        let bundle = BusyboxBundle::shell("echo run");
        let options = Options {
            restart: Some("always"),
            ..Options::started()
        };
        let monitored = Monitored::start(runtime, &bundle, options);
        wait_for("two restarts", || {
            monitored
                .status()
                .is_some_and(|status| status.restarts >= 2)
        });
        monitored.dir.mark_stopped().expect("stopped marker");
        let exit = monitored.wait_monitor_exit();
        assert_eq!(exit.exit_code, 0);
        assert!(exit.restarts >= 2, "{exit:?}");
        let runs = exit.restarts as usize + 1;
        assert_eq!(
            monitored.log_records(),
            vec!["stdout F run"; runs],
            "{runtime:?}"
        );
    }
}
