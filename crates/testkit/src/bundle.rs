//! Runtime bundles for runtime tests: a busybox root filesystem (the static busybox from
//! Debian's busybox-static, with a link for every applet) and a `config.json` of runc's
//! defaults that a test edits as JSON; and a console socket that receives a container's
//! terminal the way conmon and containerd do.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// A bundle directory (`config.json` + `rootfs/`) removed when dropped.
pub struct BusyboxBundle {
    dir: tempfile::TempDir,
}

impl BusyboxBundle {
    /// A bundle running `args` without a terminal, from `runc spec`'s defaults.
    pub fn new(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("aurora-bundle-")
            .tempdir()
            .expect("temporary bundle directory");
        write_busybox_rootfs(&dir.path().join("rootfs"));
        let out = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .expect("runc spec (apt-get install -y runc)");
        assert!(
            out.status.success(),
            "runc spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bundle = BusyboxBundle { dir };
        bundle.edit(|config| {
            config["process"]["terminal"] = json!(false);
            config["process"]["args"] = json!(args);
        });
        bundle
    }

    /// A bundle running `sh -c script`.
    pub fn shell(script: &str) -> Self {
        BusyboxBundle::new(&["sh", "-c", script])
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The root filesystem.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The current `config.json`.
    pub fn config(&self) -> Value {
        let bytes = std::fs::read(self.path().join("config.json")).expect("read config.json");
        serde_json::from_slice(&bytes).expect("config.json is JSON")
    }

    /// Changes `config.json` through `change`.
    pub fn edit(&self, change: impl FnOnce(&mut Value)) {
        let mut config = self.config();
        change(&mut config);
        let bytes = serde_json::to_vec_pretty(&config).expect("serialise config.json");
        std::fs::write(self.path().join("config.json"), bytes).expect("write config.json");
    }
}

/// Writes a root filesystem of the host's static busybox, one link per applet, plus
/// /etc/passwd and /etc/group with root and a user `app` (1000:1000).
pub fn write_busybox_rootfs(rootfs: &Path) {
    let busybox = crate::find_tool("busybox").expect("busybox (apt-get install -y busybox-static)");
    for dir in [
        "bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/app",
    ] {
        std::fs::create_dir_all(rootfs.join(dir)).expect("rootfs directory");
    }
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
    )
    .expect("group");
}

/// A console socket (runc's `--console-socket`): receives the pseudo-terminal master a
/// runtime sends, and collects what the container writes to its terminal.
pub struct ConsoleSocket {
    path: PathBuf,
    _dir: tempfile::TempDir,
    received: mpsc::Receiver<Vec<u8>>,
}

impl ConsoleSocket {
    /// Listens on a new socket; a thread accepts one runtime, takes the terminal it sends
    /// and reads it until the container closes it.
    pub fn listen() -> Self {
        let dir = tempfile::tempdir().expect("socket directory");
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind the console socket");
        let (tx, received) = mpsc::channel();
        thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let Some(master) = receive_fd(&stream) else {
                return;
            };
            let mut file = std::fs::File::from(master);
            let mut output = Vec::new();
            let mut buf = [0u8; 4096];
            // EIO is how a pty master reports that the last slave closed.
            while let Ok(n) = file.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.extend_from_slice(&buf[..n]);
            }
            let _ = tx.send(output);
        });
        ConsoleSocket {
            path,
            _dir: dir,
            received,
        }
    }

    /// The socket's path, for `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the container wrote to its terminal, once it closed it (None after `timeout`).
    pub fn output(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.received.recv_timeout(timeout).ok()
    }
}

/// One file descriptor passed with SCM_RIGHTS.
fn receive_fd(stream: &std::os::unix::net::UnixStream) -> Option<OwnedFd> {
    use std::os::fd::AsRawFd;
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control = [0u8; 64];
    // SAFETY: msghdr is plain data; every pointer in it refers to a live local buffer.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    // SAFETY: recvmsg writes only into the buffers described by msg.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return None;
    }
    // SAFETY: CMSG_FIRSTHDR/CMSG_DATA walk the control buffer recvmsg filled.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>());
        Some(OwnedFd::from_raw_fd(fd))
    }
}
