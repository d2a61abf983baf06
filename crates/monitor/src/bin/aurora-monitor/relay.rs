//! One run of the container: a poll(2) loop that moves its output to the log and the attach
//! clients, the clients' input to its stdin, and waits for its init to exit.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use aurora_crilog::{LogWriter, Stream};
use aurora_monitor::attach::{Frame, Request};
use rustix::io::Errno;

use crate::clients::AttachServer;
use crate::daemon::{reap_one, would_block, ChildSignals};
use crate::runtime::ContainerIo;

/// How long a partial line waits for its newline before it is written as a `P` record.
const PARTIAL_LINE_WAIT_MS: i32 = 250;
/// Input queued for the container beyond this (64 KiB): clients are not read until it drains.
const MAX_STDIN_QUEUED: usize = 64 * 1024;
/// What one read takes from a pipe (the kernel's default pipe size).
const READ_SIZE: usize = 64 * 1024;
/// After the init exited, what is left in a pipe is read up to this much (a process outside
/// a PID namespace may keep writing forever).
const MAX_DRAIN: usize = 16 * 1024 * 1024;

/// How often the loop checks that the init still exists when nothing else happens (5 s):
/// only for an init that is not the monitor's child, which no SIGCHLD would announce.
const LIVENESS_CHECK_MS: i32 = 5000;
/// The exit code of an init that vanished without the monitor seeing its status.
const UNKNOWN_EXIT: i32 = -1;

/// Whether `pid` exists (a zombie child of ours does).
fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe {
        libc::kill(pid, 0) == 0
            || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
}

struct Output {
    fd: OwnedFd,
    stream: Stream,
}

struct StdinSink {
    fd: OwnedFd,
    queued: Vec<u8>,
    /// The client that writes the container's stdin: the first that sent any.
    owner: Option<u64>,
    /// Close once the queue is written (the owner sent end of input).
    closing: bool,
}

pub struct Relay<'a> {
    pub log: &'a mut LogWriter,
    pub server: &'a mut AttachServer,
    pub signals: &'a ChildSignals,
    pub buf: Vec<u8>,
}

enum Target {
    Signals,
    Listener,
    Output(usize),
    Stdin,
    Client(usize),
}

impl Relay<'_> {
    /// Relays until the process `pid` exits; its exit code (status, or 128 + signal).
    pub fn run(&mut self, pid: i32, io: ContainerIo) -> i32 {
        let (mut outputs, mut stdin, terminal) = split(io);
        let mut exit_code = None;
        while exit_code.is_none() {
            let mut fds = Vec::new();
            let mut targets = Vec::new();
            let mut watch = |fd: RawFd, events: libc::c_short, target: Target| {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                targets.push(target);
            };
            watch(self.signals.fd().as_raw_fd(), libc::POLLIN, Target::Signals);
            watch(
                self.server.listener.as_raw_fd(),
                libc::POLLIN,
                Target::Listener,
            );
            for (i, output) in outputs.iter().enumerate() {
                watch(output.fd.as_raw_fd(), libc::POLLIN, Target::Output(i));
            }
            let stdin_full = stdin
                .as_ref()
                .is_some_and(|s| s.queued.len() >= MAX_STDIN_QUEUED);
            if let Some(sink) = stdin.as_ref().filter(|s| !s.queued.is_empty()) {
                watch(sink.fd.as_raw_fd(), libc::POLLOUT, Target::Stdin);
            }
            for (i, client) in self.server.clients.iter().enumerate() {
                let mut events = if stdin_full { 0 } else { libc::POLLIN };
                if !client.queued.is_empty() {
                    events |= libc::POLLOUT;
                }
                watch(client.stream.as_raw_fd(), events, Target::Client(i));
            }
            let timeout = if self.log.has_pending() {
                PARTIAL_LINE_WAIT_MS
            } else {
                LIVENESS_CHECK_MS
            };
            // SAFETY: fds is a live array of pollfd of the length given.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if ready < 0 {
                continue; // EINTR (SIGCHLD): the signal pipe says the rest
            }
            if ready == 0 {
                let _ = self.log.flush();
                if !exists(pid) {
                    // Gone without a SIGCHLD to us: it was not our child after all, and its
                    // status is lost.
                    exit_code = Some(UNKNOWN_EXIT);
                }
                continue;
            }
            let mut closed_outputs = Vec::new();
            for (pollfd, target) in fds.iter().zip(&targets) {
                if pollfd.revents == 0 {
                    continue;
                }
                match *target {
                    Target::Signals => {
                        self.signals.drain();
                        // A reopen that fails keeps writing to the file already open.
                        if self.signals.take_reopen_log() {
                            let _ = self.log.reopen();
                        }
                        while let Some((child, code)) = reap_one() {
                            if child == pid {
                                exit_code = Some(code);
                            }
                        }
                    }
                    Target::Listener => self.server.accept_all(),
                    Target::Output(i) => {
                        if !self.read_output(&outputs[i]) {
                            closed_outputs.push(i);
                        }
                    }
                    Target::Stdin => {
                        if let Some(sink) = stdin.as_mut() {
                            write_stdin(sink);
                        }
                    }
                    Target::Client(i) => {
                        let client = &mut self.server.clients[i];
                        if pollfd.revents & libc::POLLOUT != 0 {
                            client.send_queued();
                        }
                        if pollfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                            let id = client.id;
                            for request in client.receive() {
                                handle_request(request, id, &mut stdin, terminal.as_ref());
                            }
                        }
                    }
                }
            }
            for i in closed_outputs.into_iter().rev() {
                outputs.remove(i);
            }
            if stdin
                .as_ref()
                .is_some_and(|s| s.closing && s.queued.is_empty())
            {
                stdin = None;
            }
            self.server.drop_closed();
        }
        for output in &outputs {
            self.drain(output);
        }
        let _ = self.log.flush();
        exit_code.unwrap_or(UNKNOWN_EXIT)
    }

    /// Reads one chunk of output into the log and to the clients; false at its end.
    fn read_output(&mut self, output: &Output) -> bool {
        self.buf.resize(READ_SIZE, 0);
        match rustix::io::read(&output.fd, &mut self.buf) {
            Ok(0) => false,
            Ok(n) => {
                self.deliver(output.stream, n);
                true
            }
            Err(e) if would_block(e) => true,
            // EIO: a terminal whose last slave closed.
            Err(_) => false,
        }
    }

    /// What is left in a pipe once the init exited.
    fn drain(&mut self, output: &Output) {
        let mut drained = 0;
        while drained < MAX_DRAIN {
            self.buf.resize(READ_SIZE, 0);
            match rustix::io::read(&output.fd, &mut self.buf) {
                Ok(n) if n > 0 => {
                    drained += n;
                    self.deliver(output.stream, n);
                }
                Err(Errno::INTR) => {}
                _ => return,
            }
        }
    }

    /// The first `n` bytes of the buffer, to the log and to every client.
    fn deliver(&mut self, stream: Stream, n: usize) {
        let chunk = &self.buf[..n];
        // A log that cannot be written (not a full disk, which is counted) must not stop the
        // container's output either: the clients still get it.
        let _ = self.log.write(stream, chunk);
        if !self.server.has_clients() {
            return;
        }
        let frame = match stream {
            Stream::Stdout => Frame::Stdout(chunk.to_vec()),
            Stream::Stderr => Frame::Stderr(chunk.to_vec()),
        };
        self.server.broadcast(&frame);
    }
}

fn split(io: ContainerIo) -> (Vec<Output>, Option<StdinSink>, Option<OwnedFd>) {
    let sink = |fd| StdinSink {
        fd,
        queued: Vec::new(),
        owner: None,
        closing: false,
    };
    match io {
        ContainerIo::Pipes {
            stdout,
            stderr,
            stdin,
        } => (
            vec![
                Output {
                    fd: stdout,
                    stream: Stream::Stdout,
                },
                Output {
                    fd: stderr,
                    stream: Stream::Stderr,
                },
            ],
            stdin.map(sink),
            None,
        ),
        ContainerIo::Terminal { master, input } => {
            // One terminal, three roles: output, input, and the size.
            let input = input
                .then(|| rustix::io::dup(&master).ok().map(sink))
                .flatten();
            let size = rustix::io::dup(&master).ok();
            (
                vec![Output {
                    fd: master,
                    stream: Stream::Stdout,
                }],
                input,
                size,
            )
        }
    }
}

fn handle_request(
    request: Request,
    client: u64,
    stdin: &mut Option<StdinSink>,
    terminal: Option<&OwnedFd>,
) {
    match request {
        Request::Stdin(bytes) => {
            if let Some(sink) = stdin.as_mut().filter(|s| !s.closing) {
                sink.owner.get_or_insert(client);
                sink.queued.extend_from_slice(&bytes);
                write_stdin(sink);
            }
        }
        Request::StdinClosed => {
            // A terminal has no end of input to give: a client leaving leaves it open.
            if terminal.is_some() {
                return;
            }
            if let Some(sink) = stdin.as_mut() {
                if sink.owner.is_none_or(|owner| owner == client) {
                    sink.closing = true;
                }
            }
        }
        Request::Resize { rows, cols } => {
            if let Some(terminal) = terminal {
                let size = rustix::termios::Winsize {
                    ws_row: rows,
                    ws_col: cols,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                let _ = rustix::termios::tcsetwinsize(terminal, size);
            }
        }
    }
}

fn write_stdin(sink: &mut StdinSink) {
    while !sink.queued.is_empty() {
        match rustix::io::write(&sink.fd, &sink.queued) {
            Ok(n) => {
                sink.queued.drain(..n);
            }
            Err(e) if would_block(e) && e != Errno::INTR => return,
            Err(Errno::INTR) => {}
            Err(_) => {
                // The container closed its stdin: what clients send is dropped.
                sink.queued.clear();
                sink.closing = true;
                return;
            }
        }
    }
}
