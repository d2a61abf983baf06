//! `runz run` of a bundle with `process.terminal` and no `--console-socket`, as runc does it:
//! runz itself receives the container's pseudo-terminal, puts its own terminal in raw mode,
//! relays input and output, passes window size changes on, and restores the terminal at the
//! end. (libcontainer hands the terminal only to a console socket, so runz listens on one of
//! its own in the state directory.)

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

use crate::error::{Error, Result};

/// A console socket of runz's own, removed when dropped.
pub(super) struct Console {
    listener: UnixListener,
    path: PathBuf,
}

impl Console {
    pub fn listen(dir: &Path) -> Result<Console> {
        let path = dir.join(format!(".console-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| Error::Io {
            what: "cannot listen for the container's terminal on",
            path: path.clone(),
            source,
        })?;
        Ok(Console { listener, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pseudo-terminal master the container's init sent (it sends it while being created).
    pub fn receive(&self) -> Result<OwnedFd> {
        let fail =
            |why: String| Error::Invalid(format!("receiving the container's terminal: {why}"));
        let (stream, _) = self.listener.accept().map_err(|e| fail(e.to_string()))?;
        let mut data = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut data)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .map_err(|e| fail(e.to_string()))?;
        for cmsg in msg.cmsgs().map_err(|e| fail(e.to_string()))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(fail("no descriptor came with the message".into()))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Relays between runz's own stdin/stdout and the container's terminal.
pub(super) struct Relay {
    master: OwnedFd,
    saved: Option<Termios>,
    output: Option<JoinHandle<()>>,
}

impl Relay {
    pub fn start(master: OwnedFd) -> Result<Relay> {
        let io =
            |e: std::io::Error| Error::Invalid(format!("relaying the container's terminal: {e}"));
        let stdin = std::io::stdin();
        let saved = match termios::tcgetattr(stdin.as_fd()) {
            Ok(original) => {
                let mut raw = original.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
                Some(original)
            }
            Err(_) => None,
        };
        let relay_in = master.try_clone().map_err(io)?;
        // Input is never joined: runz's stdin may never reach its end.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut File::from(relay_in));
        });
        let relay_out = master.try_clone().map_err(io)?;
        let output = std::thread::spawn(move || {
            let mut master = File::from(relay_out);
            let mut buf = [0u8; 8192];
            // EIO is how a pty master says the last process holding the terminal is gone.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut out = std::io::stdout().lock();
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
        });
        let relay = Relay {
            master,
            saved,
            output: Some(output),
        };
        relay.resize();
        Ok(relay)
    }

    /// Gives the container's terminal the size of runz's own (on start and on SIGWINCH).
    pub fn resize(&self) {
        // SAFETY: winsize is plain data; both ioctls only read or write that struct.
        unsafe {
            let mut size: libc::winsize = std::mem::zeroed();
            if libc::ioctl(std::io::stdin().as_raw_fd(), libc::TIOCGWINSZ, &mut size) == 0 {
                libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size);
            }
        }
    }

    /// Waits for the last output and gives runz's terminal back its settings.
    pub fn finish(mut self) {
        if let Some(output) = self.output.take() {
            let _ = output.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}
