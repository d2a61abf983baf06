//! The CRI container log format (`TIMESTAMP STREAM P|F message`).
