//! The monitor binary against real runtimes (runz from this workspace, and runc): a busybox
//! bundle, the monitor started as podadm starts it, outcomes read from its files, its log
//! and its attach socket.

mod harness;

mod attach;
mod lifecycle;
mod logs;
mod memory;
mod restart;
mod terminal;
