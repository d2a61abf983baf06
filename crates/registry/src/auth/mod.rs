//! Authentication: credentials from auth files, challenges, and docker's token protocol.

pub mod challenge;
pub mod credentials;
mod token;

pub(crate) use token::{fetch_token, Token};
