//! How the zone tools are run: the one platform-specific part of this crate. [`Runner`] is
//! the seam; [`SystemRunner`] runs the programs [`Programs`] names (illumos: the system's
//! zonecfg, zoneadm, zlogin and pkill; elsewhere: whatever is configured, such as the stateful
//! fakes runz's tests use), [`FakeRunner`] answers from canned replies for unit tests.

use std::path::PathBuf;
use std::sync::Mutex;

use aurora_command::CommandFailure;

/// Runs the zone tools. `program` is the tool's name (`zonecfg`, `zoneadm`, `zlogin`,
/// `pkill`); the runner decides which binary that is.
pub trait Runner {
    /// Runs `program args…` and returns its standard output, or the failure.
    fn run(&self, program: &str, args: &[String]) -> Result<String, CommandFailure>;
    /// Runs `program args…` with runz's own standard input, output and error, and returns its
    /// exit status (128+N when signal N ended it): `zlogin` for `exec`, whose output is the
    /// user's. Fails only when the program cannot be run.
    fn run_attached(&self, program: &str, args: &[String]) -> Result<i32, CommandFailure>;
}

/// Which binary each zone tool is. On illumos the system's; anywhere, each can be set by an
/// environment variable (`AURORA_ZONECFG`, `AURORA_ZONEADM`, `AURORA_ZLOGIN`, `AURORA_PKILL`)
/// or all at once by a directory holding them (`AURORA_ZONE_TOOLS`, or [`Programs::in_dir`]):
/// that is how runz's tests point the zone backend at stateful fakes on Linux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    pub zonecfg: PathBuf,
    pub zoneadm: PathBuf,
    pub zlogin: PathBuf,
    pub pkill: PathBuf,
}

/// The tools' names, and the environment variables that override each.
const TOOLS: [(&str, &str); 4] = [
    ("zonecfg", "AURORA_ZONECFG"),
    ("zoneadm", "AURORA_ZONEADM"),
    ("zlogin", "AURORA_ZLOGIN"),
    ("pkill", "AURORA_PKILL"),
];

/// The variable naming a directory that holds every tool.
pub const TOOLS_DIR_VAR: &str = "AURORA_ZONE_TOOLS";

impl Programs {
    /// The system's tools: illumos keeps them in /usr/sbin and /usr/bin. Elsewhere there are
    /// none, and the bare names are looked up on `PATH` (so a missing tool fails with its name).
    pub fn system() -> Programs {
        let at = |illumos: &str, name: &str| {
            if cfg!(target_os = "illumos") {
                PathBuf::from(illumos)
            } else {
                PathBuf::from(name)
            }
        };
        Programs {
            zonecfg: at("/usr/sbin/zonecfg", "zonecfg"),
            zoneadm: at("/usr/sbin/zoneadm", "zoneadm"),
            zlogin: at("/usr/sbin/zlogin", "zlogin"),
            pkill: at("/usr/bin/pkill", "pkill"),
        }
    }

    /// Every tool taken from `dir` (`dir/zonecfg`, …).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Programs {
        let dir = dir.into();
        Programs {
            zonecfg: dir.join("zonecfg"),
            zoneadm: dir.join("zoneadm"),
            zlogin: dir.join("zlogin"),
            pkill: dir.join("pkill"),
        }
    }

    /// `dir` (else `$AURORA_ZONE_TOOLS`, else the system's), then each tool's own variable.
    pub fn from_env(dir: Option<PathBuf>) -> Programs {
        let dir = dir.or_else(|| std::env::var_os(TOOLS_DIR_VAR).map(PathBuf::from));
        let mut programs = dir.map_or_else(Programs::system, Programs::in_dir);
        for (name, var) in TOOLS {
            if let (Some(path), Some(slot)) = (std::env::var_os(var), programs.slot(name)) {
                *slot = PathBuf::from(path);
            }
        }
        programs
    }

    fn slot(&mut self, name: &str) -> Option<&mut PathBuf> {
        match name {
            "zonecfg" => Some(&mut self.zonecfg),
            "zoneadm" => Some(&mut self.zoneadm),
            "zlogin" => Some(&mut self.zlogin),
            "pkill" => Some(&mut self.pkill),
            _ => None,
        }
    }

    /// The binary for `program`; a name that is not a zone tool is run as it is.
    pub fn resolve(&self, program: &str) -> String {
        let path = match program {
            "zonecfg" => &self.zonecfg,
            "zoneadm" => &self.zoneadm,
            "zlogin" => &self.zlogin,
            "pkill" => &self.pkill,
            other => return other.to_string(),
        };
        path.to_string_lossy().into_owned()
    }
}

impl Default for Programs {
    fn default() -> Self {
        Programs::from_env(None)
    }
}

/// The real thing: [`aurora_command`] running the configured [`Programs`].
#[derive(Debug, Clone, Default)]
pub struct SystemRunner {
    programs: Programs,
}

impl SystemRunner {
    pub fn new(programs: Programs) -> Self {
        SystemRunner { programs }
    }

    pub fn programs(&self) -> &Programs {
        &self.programs
    }
}

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[String]) -> Result<String, CommandFailure> {
        aurora_command::run(&self.programs.resolve(program), args)
    }

    fn run_attached(&self, program: &str, args: &[String]) -> Result<i32, CommandFailure> {
        aurora_command::run_attached(&self.programs.resolve(program), args)
    }
}

/// A runner that records every argv and answers from canned replies, for tests here and in
/// the crates above (a fake, not a mock: it checks nothing by itself, the test reads
/// [`FakeRunner::calls`]).
#[derive(Debug, Default)]
pub struct FakeRunner {
    calls: Mutex<Vec<String>>,
    replies: Mutex<Vec<(String, Vec<Reply>)>>,
}

type Reply = Result<String, CommandFailure>;

impl FakeRunner {
    pub fn new() -> Self {
        FakeRunner::default()
    }

    fn push(&self, command: &str, reply: Reply) {
        let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        match replies.iter_mut().find(|(c, _)| c == command) {
            Some((_, queue)) => queue.push(reply),
            None => replies.push((command.to_string(), vec![reply])),
        }
    }

    /// `command` (argv joined by single spaces) prints `stdout`. Several replies for one
    /// command are given in turn; the last one then repeats. Commands without a reply print
    /// nothing and succeed.
    pub fn reply(&self, command: &str, stdout: &str) -> &Self {
        self.push(command, Ok(stdout.to_string()));
        self
    }

    /// `command` fails with `status` and `stderr`.
    pub fn fail(&self, command: &str, status: i32, stderr: &str) -> &Self {
        let argv = command.split(' ').map(str::to_string).collect();
        self.push(
            command,
            Err(CommandFailure {
                argv,
                status: Some(status),
                stdout: String::new(),
                stderr: stderr.to_string(),
            }),
        );
        self
    }

    /// Every command run so far, argv joined by single spaces.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Runner for FakeRunner {
    /// Recorded like [`FakeRunner::run`]; its reply's output is discarded and a failure's
    /// status becomes the exit status.
    fn run_attached(&self, program: &str, args: &[String]) -> Result<i32, CommandFailure> {
        match self.run(program, args) {
            Ok(_) => Ok(0),
            Err(failure) => Ok(failure.status.unwrap_or(1)),
        }
    }

    fn run(&self, program: &str, args: &[String]) -> Result<String, CommandFailure> {
        let command = std::iter::once(program)
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(command.clone());
        let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        match replies.iter_mut().find(|(c, _)| *c == command) {
            Some((_, queue)) if queue.len() > 1 => queue.remove(0),
            Some((_, queue)) => queue[0].clone(),
            None => Ok(String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_of_tools_names_each_and_other_programs_pass_through() {
        let programs = Programs::in_dir("/opt/fake");
        for tool in ["zonecfg", "zoneadm", "zlogin", "pkill"] {
            assert_eq!(programs.resolve(tool), format!("/opt/fake/{tool}"));
        }
        assert_eq!(programs.resolve("ls"), "ls");
    }

    #[test]
    fn the_system_s_tools_are_illumos_paths_there_and_bare_names_elsewhere() {
        let system = Programs::system();
        if cfg!(target_os = "illumos") {
            assert_eq!(system.zoneadm, PathBuf::from("/usr/sbin/zoneadm"));
        } else {
            assert_eq!(system.zoneadm, PathBuf::from("zoneadm"));
            assert_eq!(system.resolve("zlogin"), "zlogin");
        }
    }
}
