//! What is copied, as a tar stream: a directory tree through `aurora-layers`' walk (the one
//! walk that packs layers; it never follows a symlink it meets), its entries put under the
//! name the copy takes at its destination; a single file as one entry.

use std::io::{self, Read, Write};
use std::path::Path;

use aurora_layers::{pack_layer, ChangeSource, Compression, PackOptions};
use tar::{EntryType, Header, HeaderMode};

use super::{fd_path, Source};

/// Writes `source` as tar into `out`, its entries under `name` (`None`: a directory's
/// content, as its own entries).
pub(super) fn write_tar<W: Write + Send>(
    source: &Source,
    name: Option<&str>,
    out: W,
) -> io::Result<W> {
    match (source, name) {
        (Source::Dir { dir }, None) => pack_tree(&fd_path(dir), out),
        (Source::Dir { dir }, Some(name)) => {
            let meta = std::fs::metadata(fd_path(dir))?;
            let mut builder = tar::Builder::new(out);
            let mut header = Header::new_gnu();
            header.set_metadata_in_mode(&meta, HeaderMode::Complete);
            header.set_size(0);
            builder.append_data(&mut header, format!("{name}/"), io::empty())?;
            let (reader, writer) = io::pipe()?;
            std::thread::scope(|scope| {
                let packing = scope.spawn(move || pack_tree(&fd_path(dir), writer).map(drop));
                let prefixed = append_prefixed(reader, name, &mut builder);
                let packed = packing
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the walk panicked")));
                packed.and(prefixed)
            })?;
            builder.into_inner()
        }
        (Source::File { file, meta }, Some(name)) => {
            let mut builder = tar::Builder::new(out);
            let mut header = Header::new_gnu();
            header.set_metadata_in_mode(meta, HeaderMode::Complete);
            builder.append_data(&mut header, name, file)?;
            builder.into_inner()
        }
        (Source::File { .. }, None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a file has no content to copy as a directory's",
        )),
    }
}

/// The whole tree below `dir` as an uncompressed tar stream.
fn pack_tree<W: Write + Send>(dir: &Path, out: W) -> io::Result<W> {
    let options = PackOptions {
        compression: Compression::None,
        level: None,
        clamp_mtime: None,
    };
    pack_layer(&ChangeSource::Tree(dir.to_path_buf()), out, &options)
        .map(|(_, out)| out)
        .map_err(io::Error::other)
}

/// Copies every entry of the tar stream `input` into `builder` with `prefix/` before its
/// name (and before a hardlink's target, which names an entry of the same stream), keeping
/// its PAX records (xattrs).
fn append_prefixed<W: Write>(
    input: impl Read,
    prefix: &str,
    builder: &mut tar::Builder<W>,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = Path::new(prefix).join(entry.path()?);
        let records: Vec<(String, Vec<u8>)> = match entry.pax_extensions()? {
            Some(extensions) => extensions
                .filter_map(Result::ok)
                .filter_map(|e| Some((e.key().ok()?.to_string(), e.value_bytes().to_vec())))
                // The names are written anew below.
                .filter(|(key, _)| key != "path" && key != "linkpath")
                .collect(),
            None => Vec::new(),
        };
        if !records.is_empty() {
            builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let mut header = entry.header().clone();
        match header.entry_type() {
            EntryType::Link => {
                let target = entry.link_name()?.unwrap_or_default().into_owned();
                builder.append_link(&mut header, path, Path::new(prefix).join(target))?;
            }
            EntryType::Symlink => {
                let target = entry.link_name()?.unwrap_or_default().into_owned();
                builder.append_link(&mut header, path, target)?;
            }
            _ => builder.append_data(&mut header, path, &mut entry)?,
        }
    }
    Ok(())
}
