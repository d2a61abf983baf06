//! Showing pull, push, unpack and commit progress: bars on a terminal, plain lines otherwise, nothing when quiet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aurora_images::Progress;
use aurora_spec::Digest;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The short form users know from docker: the first 12 hex digits.
pub fn short(digest: &Digest) -> &str {
    let hex = digest.digest();
    &hex[..hex.len().min(12)]
}

/// Bars per blob and one for the total, on standard error.
pub struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    blobs: Mutex<HashMap<String, ProgressBar>>,
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        total.set_prefix("total");
        total.enable_steady_tick(Duration::from_millis(200));
        Bars {
            multi,
            total,
            blobs: Mutex::new(HashMap::new()),
        }
    }

    fn with_bar(&self, digest: &Digest, f: impl FnOnce(&ProgressBar)) {
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = blobs.get(digest.as_ref()) {
            f(bar);
        }
    }

    pub fn finish(&self) {
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn blob_present(&self, digest: &Digest, size: u64) {
        let _ = self.multi.println(format!(
            "{:>14}: already present ({})",
            short(digest),
            HumanBytes(size)
        ));
    }

    fn blob_started(&self, digest: &Digest, size: u64, offset: u64) {
        self.add_bar(digest, size, offset);
    }

    fn blob_advanced(&self, digest: &Digest, bytes: u64) {
        self.advance(digest, bytes);
    }

    fn blob_restarted(&self, digest: &Digest) {
        self.with_bar(digest, |bar| {
            self.total
                .set_position(self.total.position().saturating_sub(bar.position()));
            bar.set_position(0);
        });
    }

    fn blob_retrying(&self, digest: &Digest, error: &str) {
        self.with_bar(digest, |bar| bar.set_message(format!("retrying: {error}")));
    }

    fn blob_done(&self, digest: &Digest) {
        self.finish_bar(digest);
    }

    fn upload_started(&self, digest: &Digest, size: u64) {
        self.add_bar(digest, size, 0);
        self.with_bar(digest, |bar| bar.set_message("uploading"));
    }

    fn upload_skipped(&self, digest: &Digest, size: u64, how: &str) {
        let has_bar = self
            .blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(digest.as_ref());
        if has_bar {
            self.with_bar(digest, |bar| bar.set_message(how.to_string()));
        } else {
            let _ = self.multi.println(format!(
                "{:>14}: {how} ({})",
                short(digest),
                HumanBytes(size)
            ));
        }
    }

    fn layer_started(&self, blob: &Digest, size: u64) {
        self.add_bar(blob, size, 0);
        self.with_bar(blob, |bar| bar.set_message("unpacking"));
    }

    fn layer_advanced(&self, blob: &Digest, bytes: u64) {
        self.advance(blob, bytes);
    }

    fn layer_done(&self, blob: &Digest) {
        self.finish_bar(blob);
    }

    fn pack_started(&self, what: &str) {
        // The layer's size is known only at the end: the total becomes a counter.
        self.total.set_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                .expect("valid template"),
        );
        self.total.set_message(format!("packing {what}:"));
    }

    fn pack_advanced(&self, bytes: u64) {
        self.total.inc(bytes);
    }

    fn pack_done(&self, blob: &Digest, size: u64) {
        let _ = self
            .multi
            .println(format!("new layer {} ({})", short(blob), HumanBytes(size)));
    }
}

impl Bars {
    fn add_bar(&self, digest: &Digest, size: u64, offset: u64) {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(short(digest).to_string());
        bar.set_position(offset);
        self.total.inc_length(size);
        self.total.inc(offset);
        self.blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_string(), bar);
    }

    fn advance(&self, digest: &Digest, bytes: u64) {
        self.with_bar(digest, |bar| bar.inc(bytes));
        self.total.inc(bytes);
    }

    fn finish_bar(&self, digest: &Digest) {
        self.with_bar(digest, |bar| {
            bar.set_message("done");
            bar.finish();
        });
    }
}

/// One line per event, for logs and pipes.
pub struct Lines;

impl Progress for Lines {
    fn resolved(&self, reference: &str, digest: &Digest) {
        eprintln!("Resolved {reference} to {digest}");
    }
    fn blob_present(&self, digest: &Digest, _size: u64) {
        eprintln!("Blob {} already present", short(digest));
    }
    fn blob_started(&self, digest: &Digest, size: u64, offset: u64) {
        if offset > 0 {
            eprintln!(
                "Resuming blob {} at {} of {}",
                short(digest),
                HumanBytes(offset),
                HumanBytes(size)
            );
        } else {
            eprintln!("Fetching blob {} ({})", short(digest), HumanBytes(size));
        }
    }
    fn blob_retrying(&self, digest: &Digest, error: &str) {
        eprintln!("Retrying blob {}: {error}", short(digest));
    }
    fn blob_done(&self, digest: &Digest) {
        eprintln!("Blob {} done", short(digest));
    }
    fn upload_started(&self, digest: &Digest, size: u64) {
        eprintln!("Uploading blob {} ({})", short(digest), HumanBytes(size));
    }
    fn upload_skipped(&self, digest: &Digest, _size: u64, how: &str) {
        eprintln!("Blob {} {how}", short(digest));
    }
    fn layer_started(&self, blob: &Digest, size: u64) {
        eprintln!("Unpacking layer {} ({})", short(blob), HumanBytes(size));
    }
    fn layer_done(&self, blob: &Digest) {
        eprintln!("Layer {} unpacked", short(blob));
    }
    fn pack_started(&self, what: &str) {
        eprintln!("Packing the changes of {what}");
    }
    fn pack_done(&self, blob: &Digest, size: u64) {
        eprintln!("New layer {} ({})", short(blob), HumanBytes(size));
    }
}
