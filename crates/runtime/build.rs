//! Builds runz-exec (exec-helper/runz-exec.c) as a static binary for the Linux backend to embed
//! (see src/linux/sealed.rs): freestanding, no C library, x86_64 and aarch64. Without a C
//! compiler, or on another architecture, the build goes on without it, and runz then seals a
//! copy of its whole binary instead, which is slower but as safe.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(runz_exec_helper)");
    println!("cargo::rerun-if-changed=exec-helper/runz-exec.c");
    println!("cargo::rerun-if-env-changed=CC");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let helper = out.join("runz-exec");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args([
            "-static",
            "-nostdlib",
            "-nostartfiles",
            "-ffreestanding",
            "-fno-builtin",
            "-fno-pie",
            "-no-pie",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-Wl,--build-id=none",
            "-Os",
            "-s",
            "-Wall",
            "-o",
        ])
        .arg(&helper)
        .arg("exec-helper/runz-exec.c")
        .status();
    match status {
        Ok(s) if s.success() => println!("cargo::rustc-cfg=runz_exec_helper"),
        Ok(s) => println!("cargo::warning=runz-exec not built ({cc} exited with {s}); runz will seal its whole binary instead"),
        Err(e) => println!("cargo::warning=runz-exec not built ({cc}: {e}); runz will seal its whole binary instead"),
    }
}
