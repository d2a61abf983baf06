//! ExecSync: a command run in a running container through the engine's exec (the OCI
//! runtime's `exec`), its output collected (bounded) and its status returned; a command
//! that outlives the request's timeout is killed and reported as DEADLINE_EXCEEDED.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aurora_engine::{Engine, ExecOptions};
use k8s_cri::v1::{ExecSyncRequest, ExecSyncResponse};

use crate::error::{internal, ApiError};

/// What ExecSync keeps of each output stream.
const MAX_OUTPUT: u64 = 16 << 20;

pub(crate) fn exec_sync(
    engine: &Engine,
    request: &ExecSyncRequest,
) -> Result<ExecSyncResponse, ApiError> {
    let options = ExecOptions {
        command: request.cmd.clone(),
        env: Vec::new(),
        user: None,
        workdir: None,
        tty: false,
        detach: false,
    };
    let mut prepared = engine
        .exec(&request.container_id, &options)
        .map_err(crate::pods::status)?;
    let mut child = prepared
        .command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(internal)?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = collect(stdout.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = collect(stderr.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline =
        (request.timeout > 0).then(|| Instant::now() + Duration::from_secs(request.timeout as u64));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(internal)? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // The command itself, inside the container; the runtime waiting for it then
            // reaps it and exits (killed only if it does not, leaving the reaping to the
            // container's init).
            prepared.kill_process();
            let grace = Instant::now() + Duration::from_secs(2);
            while child.try_wait().map_err(internal)?.is_none() && Instant::now() < grace {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(ApiError::DeadlineExceeded(format!(
                "{:?} ran past its timeout of {} s",
                request.cmd, request.timeout
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let exit_code = status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    });
    Ok(ExecSyncResponse {
        stdout,
        stderr,
        exit_code,
    })
}
