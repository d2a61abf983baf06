//! `Config.User` resolution against the image's own `/etc/passwd` and `/etc/group`.
//!
//! The files are read from an untrusted root filesystem: they are resolved with
//! `openat2(RESOLVE_IN_ROOT)` (through `pathrs`), so a symlink — absolute or full of `..` —
//! never leaves the rootfs; only regular files are opened (no FIFO can block us, no device
//! is opened); and they are capped at [`MAX_ID_FILE_SIZE`].
//!
//! The rules follow the image-spec's conversion document, with docker's/umoci's
//! (`moby/sys/user`) reading of the files:
//!
//! - `""` (no User): uid 0; the gid and `HOME` come from uid 0's passwd entry if there is one.
//! - `uid`: verbatim; the primary gid and `HOME` come from the first passwd entry with that
//!   uid, else gid 0 and no `HOME`. No supplementary groups (the spec says a numeric user
//!   SHOULD NOT change `additionalGids`).
//! - `name`: the first passwd entry with that name (error if none, or no passwd file); the
//!   supplementary groups are every `/etc/group` entry listing the name as a member.
//! - `…:gid`: the gid verbatim. `…:group`: the first group entry with that name (error if
//!   none). An explicit group means no supplementary groups. `user:` is read as `user`.
//! - uids and gids above 2^31-1 are refused, as runc and docker do.
//!
//! Lines that are empty, comments (`#`), NIS compat entries (`+`/`-`) or malformed (too few
//! fields, non-numeric ids) are skipped.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use pathrs::flags::OpenFlags;
use pathrs::{Handle, Root};

use crate::BundleError;

/// The largest `/etc/passwd` or `/etc/group` read from an image (4 MiB: some 40,000 users).
pub const MAX_ID_FILE_SIZE: u64 = 4 << 20;

/// The largest uid or gid accepted (runc's and docker's limit).
const MAX_ID: u32 = (1 << 31) - 1;

/// The result of resolving `Config.User`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (only for a user given by name without a group), in file order,
    /// without duplicates.
    pub additional_gids: Vec<u32>,
    /// The home directory from the passwd entry, if one was found and it is not empty.
    pub home: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Id {
    Numeric(u32),
    Name(String),
}

#[derive(Debug)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Parse a `user[:group]` string. `Ok(None)` for the group means "not given".
fn parse_spec(user: &str) -> Result<(Id, Option<Id>), String> {
    if user.is_empty() {
        return Ok((Id::Numeric(0), None));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if u.is_empty() {
        return Err("the user part before ':' is empty".into());
    }
    if g.is_some_and(|g| g.contains(':')) {
        return Err("more than one ':' (the form is user[:group])".into());
    }
    if user.contains('\0') || user.contains('\n') {
        return Err("contains a NUL or newline character".into());
    }
    let group = match g {
        None | Some("") => None,
        Some(g) => Some(parse_id(g, "gid")?),
    };
    Ok((parse_id(u, "uid")?, group))
}

fn parse_id(s: &str, what: &str) -> Result<Id, String> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Id::Name(s.to_string()));
    }
    match s.parse::<u32>() {
        Ok(n) if n <= MAX_ID => Ok(Id::Numeric(n)),
        _ => Err(format!("{what} {s} is out of range (0 to {MAX_ID})")),
    }
}

fn parse_num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| *n <= MAX_ID)
}

fn skip_line(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#') || line.starts_with('+') || line.starts_with('-')
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !skip_line(l))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: parse_num(f[2])?,
                gid: parse_num(f[3])?,
                home: f.get(5).copied().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !skip_line(l))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: parse_num(f[2])?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads files from inside a root filesystem without ever leaving it.
struct RootReader<'a> {
    image: &'a str,
    rootfs: &'a Path,
    root: Option<Root>,
}

impl<'a> RootReader<'a> {
    fn new(image: &'a str, rootfs: &'a Path) -> Self {
        RootReader {
            image,
            rootfs,
            root: None,
        }
    }

    /// The path shown in messages: the file as the host sees it (it is only ever opened
    /// relative to the rootfs).
    fn display_path(&self, name: &str) -> PathBuf {
        self.rootfs.join(name.trim_start_matches('/'))
    }

    /// Read `name` (an absolute path inside the rootfs). `Ok(None)` if it does not exist.
    fn read(&mut self, name: &str) -> Result<Option<String>, BundleError> {
        let file = self.display_path(name);
        if self.root.is_none() {
            let root = Root::open(self.rootfs).map_err(|source| BundleError::RootfsOpen {
                image: self.image.to_string(),
                rootfs: self.rootfs.to_path_buf(),
                source,
            })?;
            self.root = Some(root);
        }
        let Some(root) = self.root.as_ref() else {
            unreachable!("the root was just opened")
        };
        let handle = match root.resolve(name) {
            Ok(handle) => handle,
            Err(err) if is_missing(&err) => return Ok(None),
            Err(source) => {
                return Err(BundleError::IdFileOpen {
                    image: self.image.to_string(),
                    file,
                    source,
                })
            }
        };
        let read_err = |source| BundleError::IdFileRead {
            image: self.image.to_string(),
            file: file.clone(),
            source,
        };
        // The handle is an O_PATH descriptor: fstat it before opening anything, so that a
        // device or FIFO planted at this path is never opened.
        let path_fd = File::from(OwnedFd::from(handle));
        let meta = path_fd.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(BundleError::IdFileNotRegular {
                image: self.image.to_string(),
                file,
            });
        }
        let too_large = |size| BundleError::IdFileTooLarge {
            image: self.image.to_string(),
            file: file.clone(),
            size,
            limit: MAX_ID_FILE_SIZE,
        };
        if meta.len() > MAX_ID_FILE_SIZE {
            return Err(too_large(meta.len()));
        }
        let reopened = Handle::from_fd(path_fd)
            .reopen(OpenFlags::O_RDONLY | OpenFlags::O_NOCTTY | OpenFlags::O_NONBLOCK)
            .map_err(|source| BundleError::IdFileOpen {
                image: self.image.to_string(),
                file: file.clone(),
                source,
            })?;
        let mut buf = Vec::with_capacity(meta.len() as usize);
        // The file may grow between the fstat and the read: never read past the limit.
        reopened
            .take(MAX_ID_FILE_SIZE + 1)
            .read_to_end(&mut buf)
            .map_err(read_err)?;
        if buf.len() as u64 > MAX_ID_FILE_SIZE {
            return Err(too_large(buf.len() as u64));
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }
}

fn is_missing(err: &pathrs::error::Error) -> bool {
    match err.kind() {
        pathrs::error::ErrorKind::OsError(Some(errno)) => matches!(
            std::io::Error::from_raw_os_error(errno).kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
        ),
        _ => false,
    }
}

const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";

/// Resolve an image's `Config.User` (`""`, `uid`, `uid:gid`, `name`, `name:group`,
/// `name:gid`, `uid:group`) against the passwd and group files of `rootfs`, following the
/// rules in this module's documentation. `image` is only used in error messages.
pub fn resolve_user(image: &str, rootfs: &Path, user: &str) -> Result<ResolvedUser, BundleError> {
    let (user_id, group_id) = parse_spec(user).map_err(|reason| BundleError::InvalidUser {
        image: image.to_string(),
        user: user.to_string(),
        reason,
    })?;
    let mut reader = RootReader::new(image, rootfs);
    let passwd = reader.read(PASSWD)?;
    let entries = passwd.as_deref().map(parse_passwd).unwrap_or_default();

    let mut resolved = ResolvedUser::default();
    let matched_name = match &user_id {
        Id::Numeric(uid) => {
            resolved.uid = *uid;
            if let Some(e) = entries.iter().find(|e| e.uid == *uid) {
                resolved.gid = e.gid;
                resolved.home = Some(e.home.clone()).filter(|h| !h.is_empty());
            }
            None
        }
        Id::Name(name) => {
            let Some(e) = entries.iter().find(|e| &e.name == name) else {
                return Err(BundleError::UnknownUser {
                    image: image.to_string(),
                    user: name.clone(),
                    file: reader.display_path(PASSWD),
                    file_missing: passwd.is_none(),
                });
            };
            resolved.uid = e.uid;
            resolved.gid = e.gid;
            resolved.home = Some(e.home.clone()).filter(|h| !h.is_empty());
            Some(name.clone())
        }
    };

    match group_id {
        Some(Id::Numeric(gid)) => resolved.gid = gid,
        Some(Id::Name(group)) => {
            let text = reader.read(GROUP)?;
            let groups = text.as_deref().map(parse_group).unwrap_or_default();
            let Some(g) = groups.iter().find(|g| g.name == group) else {
                return Err(BundleError::UnknownGroup {
                    image: image.to_string(),
                    user: user.to_string(),
                    group,
                    file: reader.display_path(GROUP),
                    file_missing: text.is_none(),
                });
            };
            resolved.gid = g.gid;
        }
        None => {
            if let Some(name) = matched_name {
                let text = reader.read(GROUP)?;
                for g in text.as_deref().map(parse_group).unwrap_or_default() {
                    if g.members.contains(&name) && !resolved.additional_gids.contains(&g.gid) {
                        resolved.additional_gids.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_forms() {
        assert_eq!(parse_spec("").unwrap(), (Id::Numeric(0), None));
        assert_eq!(parse_spec("7").unwrap(), (Id::Numeric(7), None));
        assert_eq!(
            parse_spec("7:8").unwrap(),
            (Id::Numeric(7), Some(Id::Numeric(8)))
        );
        assert_eq!(
            parse_spec("app:staff").unwrap(),
            (Id::Name("app".into()), Some(Id::Name("staff".into())))
        );
        assert_eq!(parse_spec("app:").unwrap(), (Id::Name("app".into()), None));
        assert_eq!(parse_spec("1a").unwrap(), (Id::Name("1a".into()), None));
        assert!(parse_spec(":5").is_err());
        assert!(parse_spec("a:b:c").is_err());
        assert!(parse_spec("2147483648").is_err());
        assert!(parse_spec("0:99999999999").is_err());
        assert_eq!(
            parse_spec("2147483647").unwrap(),
            (Id::Numeric(2147483647), None)
        );
    }

    #[test]
    fn passwd_skips_malformed_lines() {
        let text = "\n# comment\n+nis\nshort:x:1\nbad:x:one:2:::\n:x:3:3:::\nok:x:10:20:g:/home/ok:/bin/sh\nnohome:x:11:21\n";
        let e = parse_passwd(text);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].name.as_str(), e[0].uid, e[0].gid), ("ok", 10, 20));
        assert_eq!(e[0].home, "/home/ok");
        assert_eq!(e[1].home, "");
    }

    #[test]
    fn group_members() {
        let g = parse_group("a:x:1:\nb:x:2:u, v\nc:x:z:u\nd:x:4\n");
        assert_eq!(g.len(), 3);
        assert_eq!(g[1].members, vec!["u", "v"]);
        assert!(g[2].members.is_empty());
    }
}
