//! The client side: what `podadm attach`, `start -a` and `run` use.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::{AttachError, Frame, FrameBuffer, Request};
use crate::MonitorDir;

/// A connection to a monitor's attach socket.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    received: FrameBuffer,
}

/// The longest socket path `connect` takes (sun_path, with its terminating NUL).
const SUN_PATH_MAX: usize = 107;

impl Client {
    /// Connects to `MONDIR/attach`. A path longer than a socket address holds is reached
    /// through an `O_PATH` descriptor of the directory (`/proc/self/fd/N/attach`).
    pub fn connect(mondir: &Path) -> Result<Client, AttachError> {
        let path = mondir.join(MonitorDir::ATTACH);
        let failed = |source| AttachError::Connect {
            path: path.clone(),
            source,
        };
        let stream = if path.as_os_str().len() <= SUN_PATH_MAX {
            UnixStream::connect(&path).map_err(failed)?
        } else {
            connect_through_proc(mondir).map_err(failed)?
        };
        Ok(Client {
            stream,
            received: FrameBuffer::default(),
        })
    }

    /// Another handle on the same connection (to write stdin from one thread while another
    /// reads output).
    pub fn try_clone(&self) -> Result<Client, AttachError> {
        Ok(Client {
            stream: self.stream.try_clone()?,
            received: FrameBuffer::default(),
        })
    }

    pub fn send_stdin(&mut self, bytes: &[u8]) -> Result<(), AttachError> {
        self.send(&Request::Stdin(bytes.to_vec()))
    }

    /// End of input for the container's stdin.
    pub fn send_eof(&mut self) -> Result<(), AttachError> {
        self.send(&Request::StdinClosed)
    }

    /// The terminal's size (for a `--terminal` container).
    pub fn resize(&mut self, rows: u16, cols: u16) -> Result<(), AttachError> {
        self.send(&Request::Resize { rows, cols })
    }

    pub fn send(&mut self, request: &Request) -> Result<(), AttachError> {
        let mut bytes = Vec::new();
        request.encode(&mut bytes);
        self.stream.write_all(&bytes)?;
        Ok(())
    }

    /// The next frame from the monitor; `None` when it closed the connection.
    pub fn read_frame(&mut self) -> Result<Option<Frame>, AttachError> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some((kind, payload)) = self.received.next_frame()? {
                return Frame::decode(kind, payload).map(Some);
            }
            let n = match self.stream.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            if n == 0 {
                return Ok(None);
            }
            self.received.extend(&buf[..n]);
        }
    }

    /// The socket, for polling.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}

#[cfg(target_os = "linux")]
fn connect_through_proc(mondir: &Path) -> std::io::Result<UnixStream> {
    use rustix::fs::{open, Mode, OFlags};
    use std::os::fd::AsRawFd;
    let dir = open(
        mondir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    UnixStream::connect(format!(
        "/proc/self/fd/{}/{}",
        dir.as_raw_fd(),
        MonitorDir::ATTACH
    ))
}

#[cfg(not(target_os = "linux"))]
fn connect_through_proc(_mondir: &Path) -> std::io::Result<UnixStream> {
    Err(std::io::Error::other(
        "the monitor directory's path is too long for a socket address",
    ))
}
