//! The Remote Service licence file (`docs/licence-format.md`): the armour around the
//! payload, the minisign trusted comment, the payload types and their strict reading.
//!
//! No I/O and no trust: this crate cuts a file up and reads a payload that someone else
//! has already verified. The engine verifies signatures with its trusted keys before it
//! calls [`read_payload`]; the back office and the tests' licence kit sign with the `sign`
//! feature.
#![deny(missing_docs)]

mod armour;
mod payload;
#[cfg(feature = "sign")]
mod sign;

pub use armour::{
    armour, key_id_text, parse_trusted_comment, split, trusted_comment, Armoured, BEGIN, END,
    TRUSTED_COMMENT_TAG,
};
pub use payload::{read_payload, Feature, LicencePayload, Party, FORMAT};
#[cfg(feature = "sign")]
pub use sign::{sign, SignError};

/// Why a licence file cannot be read. The messages name what is wrong for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not a licence file at all.
    #[error("not a remote service licence: {0}")]
    NotALicence(String),
    /// The file ends too early.
    #[error("licence is truncated: {0}")]
    Truncated(String),
    /// The armour or signature block is damaged.
    #[error("licence is malformed: {0}")]
    Malformed(String),
    /// The trusted comment is not ours or does not match the payload.
    #[error("licence trusted comment {comment:?} does not match: {reason}")]
    TrustedComment {
        /// The comment.
        comment: String,
        /// What is wrong.
        reason: String,
    },
    /// The payload is not the documented JSON.
    #[error("licence payload is not the documented JSON: {0}")]
    Payload(String),
}
