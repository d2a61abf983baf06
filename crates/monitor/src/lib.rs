//! The monitor: the files and the attach protocol it shares with podadm.
