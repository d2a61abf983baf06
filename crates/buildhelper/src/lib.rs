//! buildhelper: build steps beyond a shell, inside `imageadm build`'s build containers.
//!
//! `imageadm build` bind-mounts the static `buildhelper` binary read-only into every build
//! container, on `PATH`. It runs there as the step's user (usually root), with `/` being the
//! root of the image being built, so every file it writes becomes part of the image:
//!
//! | command | writes | read by |
//! | --- | --- | --- |
//! | `extract ARCHIVE DEST` | the archive's entries under `DEST` | — |
//! | `action add NAME -- CMD…` | [`actions`]: `/etc/aurora/actions.json` | `podinit action NAME` |
//! | `service add NAME --exec CMD` | [`services`]: `/etc/aurora/services.json`; with `--smf`, [`smf`]: `/var/svc/manifest/site/NAME.xml` | `podinit --services FILE`; illumos SMF |
//! | `configmap add NAME …` | [`configmaps`]: `/etc/aurora/configmaps.json` | the host, which turns a definition and run-time data into a podinit config map |
//!
//! Every `add` replaces the entry of the same name (so a rebuilt step gives the same file),
//! checks the whole file with podinit's own loader before writing it, and writes it
//! atomically: a temporary file beside it, fsynced, renamed over it ([`rootfs`]). The files
//! are written under `--root` (default `/`), every path resolved inside it by the kernel.
//!
//! `extract` ([`extract`]) unpacks tar (plain, gzip, xz, bzip2, zstd: told by magic bytes)
//! and zip archives with every path resolved inside `DEST`; see that module for the rules.
//!
//! The crate is also a library so that its tests (and podinit's wiring) can use the same
//! types; `docs/buildhelper.md` describes the files for people.

pub mod actions;
pub mod configmaps;
pub mod extract;
pub mod names;
pub mod rootfs;
pub mod services;
pub mod smf;
pub mod words;
