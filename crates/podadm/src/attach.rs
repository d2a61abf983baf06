//! The user's terminal or pipes connected to a container's monitor: its output to ours, our
//! input to it, terminal size changes passed on. Returns the container's exit code.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::{bail, Result};
use aurora_monitor::attach::{Client, Frame};

/// Pumps until the monitor reports the container's exit.
pub fn pump(mut client: Client, stdin: bool, tty: bool) -> Result<i32> {
    let raw = if tty && std::io::stdin().is_terminal() {
        RawTerminal::enter()
    } else {
        None
    };
    if tty {
        if let Some((rows, cols)) = terminal_size() {
            let _ = client.resize(rows, cols);
        }
        let resizer = client.try_clone()?;
        std::thread::spawn(move || follow_size(resizer));
    }
    if stdin {
        let writer = client.try_clone()?;
        std::thread::spawn(move || forward_stdin(writer));
    }
    let result = read_output(client);
    drop(raw);
    result
}

fn read_output(mut client: Client) -> Result<i32> {
    let mut stdout = std::io::stdout().lock();
    loop {
        match client.read_frame()? {
            Some(Frame::Stdout(bytes)) => {
                stdout.write_all(&bytes)?;
                stdout.flush()?;
            }
            Some(Frame::Stderr(bytes)) => {
                let mut stderr = std::io::stderr().lock();
                stderr.write_all(&bytes)?;
                stderr.flush()?;
            }
            Some(Frame::Exited(code)) => return Ok(code),
            None => bail!("the container's monitor closed the attach connection"),
        }
    }
}

fn forward_stdin(mut client: Client) {
    let mut stdin = std::io::stdin().lock();
    let mut buffer = [0u8; 8192];
    loop {
        match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => {
                let _ = client.send_eof();
                return;
            }
            Ok(n) => {
                if client.send_stdin(&buffer[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Passes terminal size changes on (checked a few times a second: simpler and as quick to
/// the eye as SIGWINCH, and needs no signal handler).
fn follow_size(mut client: Client) {
    let mut last = terminal_size();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = terminal_size();
        if now != last {
            if let Some((rows, cols)) = now {
                if client.resize(rows, cols).is_err() {
                    return;
                }
            }
            last = now;
        }
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    let size = rustix::termios::tcgetwinsize(std::io::stdin()).ok()?;
    (size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

/// The local terminal in raw mode while attached; restored when dropped.
struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        let saved = rustix::termios::tcgetattr(std::io::stdin()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &raw,
        )
        .ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}
