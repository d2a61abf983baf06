//! Applies layer blobs onto a root directory, in order, and prints each report:
//!
//! ```sh
//! cargo run --release -p aurora-layers --example apply -- ROOT BLOB...
//! ```
//!
//! Compression is detected from the magic bytes; whiteouts are deleted (`Delete` mode).

use std::path::Path;
use std::time::Instant;

use aurora_layers::{apply_layer, ApplyOptions, Compression};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((root, blobs)) = args.split_first() else {
        eprintln!("usage: apply ROOT BLOB...");
        std::process::exit(2);
    };
    for blob in blobs {
        let start = Instant::now();
        let file = std::fs::File::open(blob).unwrap_or_else(|e| panic!("{blob}: {e}"));
        match apply_layer(
            Path::new(root),
            file,
            Compression::Detect,
            &ApplyOptions::new(blob),
        ) {
            Ok(report) => println!(
                "{blob}: {} entries, {} files, {} MiB of tar in {:.2?}; diff ID {}",
                report.entries,
                report.files,
                report.tar_bytes >> 20,
                start.elapsed(),
                report.diff_id.map(|d| d.to_string()).unwrap_or_default()
            ),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}
