//! The engine behind the CRI streaming server (`aurora-cri-streaming`): exec through the OCI
//! runtime's `exec` (pipes, or a terminal made here), attach through
//! the container's monitor (its attach socket), port-forward by connecting to
//! `127.0.0.1:PORT` from inside the pod's network namespace (the infra container's).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aurora_cri_streaming::{
    CancellationToken, Config, PortStream, RequestError, RuntimeError, SendStream,
    StreamingRuntime, StreamingServer, Streams,
};
use aurora_engine::{ContainerState, ExecOptions};
use k8s_cri::v1::{AttachRequest, ExecRequest};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Status;

use crate::ServerConfig;

/// After the process exits, how long its output may take to drain (a daemon it left
/// holding the pipe or terminal must not hold the client forever).
const DRAIN: Duration = Duration::from_secs(2);
/// How long connecting to a pod's port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the streaming server listens, and the server once `serve` started it.
#[derive(Debug, Clone)]
pub struct StreamingConfig {
    pub address: SocketAddr,
    running: Arc<OnceLock<StreamingServer>>,
}

impl StreamingConfig {
    pub fn new(address: SocketAddr) -> StreamingConfig {
        StreamingConfig {
            address,
            running: Arc::default(),
        }
    }

    /// The running server, for the Exec, Attach and PortForward calls.
    pub(crate) fn server(&self) -> Option<&StreamingServer> {
        self.running.get()
    }
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

/// Starts the streaming server for `config` (its address from `config.streaming`).
pub(crate) async fn start(config: &ServerConfig) -> anyhow::Result<StreamingServer> {
    let server = StreamingServer::start(
        Config {
            address: config.streaming.address,
            ..Config::default()
        },
        EngineStreaming {
            config: config.clone(),
        },
    )
    .await?;
    let _ = config.streaming.running.set(server.clone());
    tracing::info!("CRI streaming on http://{}", server.address());
    Ok(server)
}

/// UNAVAILABLE: the call came before `serve` started the streaming server.
pub(crate) fn not_running() -> Status {
    Status::unavailable("the streaming server is not running")
}

/// A refused streaming request as the call's status.
pub(crate) fn status(error: RequestError) -> Status {
    match error {
        RequestError::InvalidArgument(message) => Status::invalid_argument(message),
        RequestError::Unavailable(message) => Status::unavailable(message),
    }
}

/// NOT_FOUND for a missing container, FAILED_PRECONDITION for one that does not run: told
/// before a URL is given, as containerd and CRI-O do.
pub(crate) async fn check_running(config: &ServerConfig, id: &str) -> Result<(), Status> {
    let config = config.clone();
    let id = id.to_string();
    let state = tokio::task::spawn_blocking(move || {
        let engine = crate::pods::engine(&config)?;
        engine
            .find(&id)
            .map(|record| record.state)
            .map_err(crate::pods::status)
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))?
    .map_err(Status::from)?;
    if state != ContainerState::Running {
        return Err(Status::failed_precondition(format!(
            "container is not running (it is {})",
            state.as_str()
        )));
    }
    Ok(())
}

struct EngineStreaming {
    config: ServerConfig,
}

fn failed(error: impl std::fmt::Display) -> RuntimeError {
    RuntimeError(error.to_string())
}

/// Engine work off the async threads; its error as the client's message.
async fn engine_call<T: Send + 'static>(
    config: &ServerConfig,
    work: impl FnOnce(&aurora_engine::Engine) -> Result<T, String> + Send + 'static,
) -> Result<T, RuntimeError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let engine = crate::pods::engine(&config).map_err(|e| format!("{e:?}"))?;
        work(&engine)
    })
    .await
    .map_err(failed)?
    .map_err(RuntimeError)
}

impl StreamingRuntime for EngineStreaming {
    async fn exec(&self, request: ExecRequest, streams: Streams) -> Result<i32, RuntimeError> {
        // runz's exec takes a console socket only when detached (and a detached exec's
        // status is lost), so a terminal is made here and given to the process as its stdio.
        let options = ExecOptions {
            command: request.cmd.clone(),
            tty: false,
            ..Default::default()
        };
        let id = request.container_id.clone();
        let mut prepared = engine_call(&self.config, move |engine| {
            engine.exec(&id, &options).map_err(|e| e.to_string())
        })
        .await?;
        // The prepared exec keeps its process file until it is dropped: after the exit.
        let command = std::mem::replace(&mut prepared.command, std::process::Command::new("true"));
        let code = if request.tty {
            exec_terminal(command, streams).await
        } else {
            exec_pipes(command, streams).await
        };
        drop(prepared);
        code
    }

    async fn attach(&self, request: AttachRequest, streams: Streams) -> Result<(), RuntimeError> {
        let id = request.container_id.clone();
        let dir = engine_call(&self.config, move |engine| {
            let record = engine.find(&id).map_err(|e| e.to_string())?;
            if record.state != ContainerState::Running {
                return Err(format!("container {id} is not running"));
            }
            Ok(engine.paths().monitor_dir(&record.id))
        })
        .await?;
        attach_monitor(&dir, streams).await
    }

    async fn port_forward(
        &self,
        pod_sandbox_id: String,
        port: u16,
        mut stream: PortStream,
    ) -> Result<(), RuntimeError> {
        let pid = engine_call(&self.config, move |engine| {
            let pod = engine
                .pod_find(&pod_sandbox_id)
                .map_err(|e| e.to_string())?;
            let infra = pod
                .infra_id
                .ok_or_else(|| format!("pod sandbox {pod_sandbox_id} has no infra container"))?;
            let record = engine.find(&infra).map_err(|e| e.to_string())?;
            match (record.state, record.pid) {
                (ContainerState::Running, Some(pid)) => Ok(pid),
                _ => Err(format!("pod sandbox {pod_sandbox_id} is not running")),
            }
        })
        .await?;
        let tcp = connect_in_namespace(pid, port).await.map_err(failed)?;
        let mut tcp = tokio::net::TcpStream::from_std(tcp).map_err(failed)?;
        // Each side's end is passed on (FIN both ways); a reset after the connection was
        // made is just its end.
        if let Err(e) = tokio::io::copy_bidirectional(&mut stream, &mut tcp).await {
            tracing::debug!("port-forward to {port}: {e}");
        }
        let _ = stream.shutdown().await;
        Ok(())
    }
}

/// A process's end as a shell reports it: its code, or 128 + the signal that killed it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Copies `from` to `to` and ends `to` (FIN), in a task.
fn pump(
    from: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>,
    to: Option<SendStream>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let (Some(mut from), Some(mut to)) = (from, to) {
            let _ = tokio::io::copy(&mut from, &mut to).await;
            let _ = to.shutdown().await;
        }
    })
}

async fn wait_or_kill(
    child: &mut tokio::process::Child,
    closed: &CancellationToken,
) -> Result<std::process::ExitStatus, RuntimeError> {
    tokio::select! {
        status = child.wait() => status.map_err(failed),
        _ = closed.cancelled() => {
            // Nobody is left to read the output or the status.
            let _ = child.start_kill();
            child.wait().await.map_err(failed)
        }
    }
}

async fn exec_pipes(command: std::process::Command, streams: Streams) -> Result<i32, RuntimeError> {
    let Streams {
        stdin,
        stdout,
        stderr,
        closed,
        ..
    } = streams;
    let mut command = tokio::process::Command::from(command);
    let piped = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    command
        .stdin(piped(stdin.is_some()))
        .stdout(piped(stdout.is_some()))
        .stderr(piped(stderr.is_some()))
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| failed(format!("running the OCI runtime: {e}")))?;
    let input = match (stdin, child.stdin.take()) {
        (Some(mut from), Some(mut to)) => Some(tokio::spawn(async move {
            let _ = tokio::io::copy(&mut from, &mut to).await;
            // Dropping the pipe is the process's end of input.
        })),
        _ => None,
    };
    let out = pump(child.stdout.take(), stdout);
    let err = pump(child.stderr.take(), stderr);
    let status = wait_or_kill(&mut child, &closed).await?;
    let _ = tokio::time::timeout(DRAIN, async {
        let _ = out.await;
        let _ = err.await;
    })
    .await;
    if let Some(input) = input {
        input.abort();
    }
    Ok(exit_code(status))
}

async fn exec_terminal(
    command: std::process::Command,
    streams: Streams,
) -> Result<i32, RuntimeError> {
    let Streams {
        stdin,
        stdout,
        resize,
        closed,
        ..
    } = streams;
    let (master, slave) = open_terminal().map_err(|e| failed(format!("a terminal: {e}")))?;
    let mut command = tokio::process::Command::from(command);
    command
        .stdin(Stdio::from(slave.try_clone().map_err(failed)?))
        .stdout(Stdio::from(slave.try_clone().map_err(failed)?))
        .stderr(Stdio::from(slave))
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| failed(format!("running the OCI runtime: {e}")))?;
    // Only the process holds the terminal's other end now: its end is the output's.
    drop(command);
    rustix::io::ioctl_fionbio(&master, true).map_err(failed)?;
    // SAFETY: an OwnedFd is an open descriptor that stays open, the same one, until the
    // AsyncFd (its owner from here on) is dropped.
    let pty = Arc::new(unsafe { AsyncFd::register(master) }.map_err(|e| failed(e.to_string()))?);
    let mut tasks = Vec::new();
    if let Some(mut resize) = resize {
        let pty = pty.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(size) = resize.recv().await {
                let winsize = rustix::termios::Winsize {
                    ws_row: size.height,
                    ws_col: size.width,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                let _ = rustix::termios::tcsetwinsize(pty.get_ref(), winsize);
            }
        }));
    }
    if let Some(mut stdin) = stdin {
        let pty = pty.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(chunk) = stdin.chunk().await {
                if write_terminal(&pty, &chunk).await.is_err() {
                    return;
                }
            }
        }));
    }
    let output = {
        let pty = pty.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 << 10];
            if let Some(mut stdout) = stdout {
                // EIO is the terminal's end once the process and its children closed it.
                while let Ok(n) = read_terminal(&pty, &mut buf).await {
                    if n == 0 || stdout.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = stdout.shutdown().await;
            }
        })
    };
    let status = wait_or_kill(&mut child, &closed).await?;
    let _ = tokio::time::timeout(DRAIN, output).await;
    for task in tasks {
        task.abort();
    }
    Ok(exit_code(status))
}

async fn read_terminal(pty: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut guard = pty.readable().await?;
        match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut *buf).map_err(io::Error::from))
        {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

async fn write_terminal(pty: &AsyncFd<OwnedFd>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let mut guard = pty.writable().await?;
        match guard.try_io(|fd| rustix::io::write(fd.get_ref(), bytes).map_err(io::Error::from)) {
            Ok(Ok(n)) => bytes = &bytes[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// A new pseudo-terminal: its master (ours) and its slave (the process's stdio). It is
/// not the process's controlling terminal (the runtime would have to make it so), so the
/// line discipline sends no signals; what is typed reaches the process.
fn open_terminal() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((master, slave))
}

/// The client's streams joined to the monitor's attach socket until the container exits
/// or the client leaves.
async fn attach_monitor(dir: &Path, streams: Streams) -> Result<(), RuntimeError> {
    use aurora_monitor::attach::{Client, Frame, FrameBuffer, Request};
    let Streams {
        stdin,
        mut stdout,
        mut stderr,
        resize,
        closed,
    } = streams;
    let dir: PathBuf = dir.to_path_buf();
    let socket = tokio::task::spawn_blocking(move || {
        let client = Client::connect(&dir)?;
        let socket = client.stream().try_clone()?;
        socket.set_nonblocking(true)?;
        Ok::<_, aurora_monitor::attach::AttachError>(socket)
    })
    .await
    .map_err(failed)?
    .map_err(failed)?;
    let socket = tokio::net::UnixStream::from_std(socket).map_err(failed)?;
    let (mut from_monitor, mut to_monitor) = socket.into_split();
    let input = tokio::spawn(async move {
        let mut stdin = stdin;
        let mut resize = resize;
        loop {
            let request = tokio::select! {
                chunk = async { stdin.as_mut()?.chunk().await }, if stdin.is_some() => match chunk {
                    Some(bytes) => Request::Stdin(bytes.to_vec()),
                    None => {
                        stdin = None;
                        // The client's end of input closes the container's stdin (kubelet's
                        // attach for StdinOnce containers; the CRI server does not record
                        // StdinOnce yet, see the report).
                        Request::StdinClosed
                    }
                },
                size = async { resize.as_mut()?.recv().await }, if resize.is_some() => match size {
                    Some(size) => Request::Resize { rows: size.height, cols: size.width },
                    None => {
                        resize = None;
                        continue;
                    }
                },
                // Dropping the write half would shut the socket's writing down, which the
                // monitor takes for a client leaving: it is kept until the output ends.
                else => std::future::pending().await,
            };
            let mut bytes = Vec::new();
            request.encode(&mut bytes);
            if to_monitor.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut frames = FrameBuffer::default();
    let mut buf = vec![0u8; 16 << 10];
    let result = loop {
        let frame = match frames.next_frame() {
            Ok(Some((kind, payload))) => Frame::decode(kind, payload).map_err(failed)?,
            Ok(None) => {
                let n = tokio::select! {
                    n = from_monitor.read(&mut buf) => n.map_err(failed)?,
                    _ = closed.cancelled() => break Ok(()),
                };
                if n == 0 {
                    break Err(RuntimeError(
                        "the container's monitor closed the attach connection".into(),
                    ));
                }
                frames.extend(&buf[..n]);
                continue;
            }
            Err(e) => break Err(failed(e)),
        };
        let (target, bytes) = match frame {
            Frame::Stdout(bytes) => (stdout.as_mut(), bytes),
            Frame::Stderr(bytes) => (stderr.as_mut(), bytes),
            Frame::Exited(_) => break Ok(()),
        };
        if let Some(target) = target {
            if target.write_all(&bytes).await.is_err() {
                break Ok(());
            }
        }
    };
    input.abort();
    result
}

/// A TCP connection to `127.0.0.1:port` (or `[::1]:port`) made from inside the network
/// namespace of process `pid`. setns(2) moves only the calling thread, so a thread of its
/// own does it and ends; the socket stays in the namespace it was made in.
async fn connect_in_namespace(pid: i32, port: u16) -> io::Result<std::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("port-forward".into())
        .spawn(move || {
            let _ = tx.send(connect_from(pid, port));
        })?;
    rx.await
        .map_err(|_| io::Error::other("the port-forward thread died"))?
}

fn connect_from(pid: i32, port: u16) -> io::Result<std::net::TcpStream> {
    let namespace = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    rustix::thread::move_into_link_name_space(
        namespace.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = match std::net::TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT) {
        Ok(stream) => stream,
        Err(first) => {
            let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
            std::net::TcpStream::connect_timeout(&v6, CONNECT_TIMEOUT).map_err(|_| first)?
        }
    };
    stream.set_nonblocking(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_a_shells() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(9)), 137);
    }
}
