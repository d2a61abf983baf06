//! The attach socket's server side: any number of clients, each with its own queue of
//! output, none able to block the container.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use aurora_monitor::attach::{AttachError, Frame, FrameBuffer, Request};
use aurora_monitor::MonitorDir;

/// Output queued for a client beyond this (256 KiB) means it does not read: it is
/// disconnected rather than holding the monitor's memory or the container's output.
const MAX_QUEUED: usize = 256 * 1024;

/// How long the last frames may take to reach a client when the container exits.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct AttachClient {
    pub id: u64,
    pub stream: UnixStream,
    received: FrameBuffer,
    pub queued: Vec<u8>,
    pub closed: bool,
}

impl AttachClient {
    /// Reads what the client sent; the requests in it, in order. A client that hung up or
    /// broke the protocol is marked closed.
    pub fn receive(&mut self) -> Vec<Request> {
        let mut buf = [0u8; 8192];
        match self.stream.read(&mut buf) {
            Ok(0) => self.closed = true,
            Ok(n) => self.received.extend(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.closed = true,
        }
        let mut requests = Vec::new();
        loop {
            match self.received.next_frame() {
                Ok(Some((kind, payload))) => match Request::decode(kind, payload) {
                    Ok(request) => requests.push(request),
                    Err(AttachError::UnknownKind { .. }) => {} // from a newer client: ignored
                    Err(_) => {
                        self.closed = true;
                        break;
                    }
                },
                Ok(None) => break,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        requests
    }

    /// Writes what is queued, as far as the socket takes it.
    pub fn send_queued(&mut self) {
        while !self.queued.is_empty() {
            match self.stream.write(&self.queued) {
                Ok(n) => {
                    self.queued.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }
}

pub struct AttachServer {
    pub listener: UnixListener,
    pub clients: Vec<AttachClient>,
    next_id: u64,
}

impl AttachServer {
    /// Listens on `attach` in the working directory (MONDIR): bound by its relative name,
    /// because ROOT may make the full path longer than a socket address; mode 0600.
    pub fn bind() -> std::io::Result<AttachServer> {
        let _ = std::fs::remove_file(MonitorDir::ATTACH);
        let listener = UnixListener::bind(MonitorDir::ATTACH)?;
        std::fs::set_permissions(MonitorDir::ATTACH, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(AttachServer {
            listener,
            clients: Vec::new(),
            next_id: 0,
        })
    }

    pub fn accept_all(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.next_id += 1;
            self.clients.push(AttachClient {
                id: self.next_id,
                stream,
                received: FrameBuffer::default(),
                queued: Vec::new(),
                closed: false,
            });
        }
    }

    /// Waits until a client connects (accepting every one waiting), or `timeout` passed.
    pub fn await_first_client(&mut self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.clients.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            let mut pollfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&self.listener),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one live pollfd.
            unsafe { libc::poll(&mut pollfd, 1, millis) };
            self.accept_all();
        }
    }

    pub fn has_clients(&self) -> bool {
        !self.clients.is_empty()
    }

    /// Queues `frame` for every client and sends what it can now.
    pub fn broadcast(&mut self, frame: &Frame) {
        if self.clients.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        frame.encode(&mut bytes);
        for client in &mut self.clients {
            client.queued.extend_from_slice(&bytes);
            client.send_queued();
            if client.queued.len() > MAX_QUEUED {
                client.closed = true;
            }
        }
        self.drop_closed();
    }

    pub fn drop_closed(&mut self) {
        self.clients.retain(|client| !client.closed);
    }

    /// The container exited: every client gets what is queued and the exit frame, then the
    /// connection is closed (a client that takes longer than FAREWELL_TIMEOUT is cut off).
    pub fn farewell(&mut self, exit_code: i32) {
        let mut bytes = Vec::new();
        Frame::Exited(exit_code).encode(&mut bytes);
        for mut client in self.clients.drain(..) {
            client.queued.extend_from_slice(&bytes);
            let _ = client.stream.set_nonblocking(false);
            let _ = client.stream.set_write_timeout(Some(FAREWELL_TIMEOUT));
            let _ = client.stream.write_all(&client.queued);
            let _ = client.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Removes the socket (the monitor is leaving).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(MonitorDir::ATTACH);
    }
}
