//! The licence store: the licence format, its verification with trusted keys, the rules
//! for replacing the licence in force, atomic installation and the folder watcher.
//!
//! A licence is verified before anything in its payload is read, and a licence that fails
//! any rule never replaces the one in force.

mod install;
mod keys;
mod store;
pub(crate) mod watch;

use std::path::PathBuf;

use remote_service_licence_format::{read_payload, split, FormatError};
use time::{Date, Duration, OffsetDateTime};

pub use install::{install_file_atomically, install_into, InstallError, MAX_LICENCE_BYTES};
pub use keys::{TrustedKey, TrustedKeys};
pub use remote_service_licence_format::{Feature, LicencePayload, Party};
pub use store::{
    judge, FolderRead, InstallOutcome, LicenceStore, Refusal, ScanOutcome, StoreConfig, Verdict,
    MAX_LICENCE_FILES,
};
pub use watch::{FolderWatcher, WatchError};

/// A licence whose signature verified with a trusted key and whose payload is the
/// documented JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLicence {
    /// The payload.
    pub payload: LicencePayload,
    /// The id of the key that signed it.
    pub key_id: String,
    /// The whole licence file.
    pub bytes: Vec<u8>,
    /// The payload JSON as signed.
    pub payload_json: String,
    /// Things the user should know that do not make it invalid (a clock problem).
    pub warnings: Vec<String>,
}

impl VerifiedLicence {
    /// Whether the licence has option `code`.
    pub fn has_feature(&self, code: &str) -> bool {
        self.payload.has_feature(code)
    }

    /// The count of option `code`.
    pub fn feature_count(&self, code: &str) -> Option<u64> {
        self.payload.feature_count(code)
    }

    /// The file name the licence has in a `DroppedLicense` folder.
    pub fn file_name(&self) -> String {
        format!("{}.lic", self.payload.serial_number)
    }
}

/// Why a licence is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenceError {
    /// The file is not a licence file, or its payload is not the documented one.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Signed with a key that is not trusted.
    #[error("licence is signed with unknown key {key_id} (trusted keys: {trusted})")]
    UnknownKey {
        /// The signature's key id.
        key_id: String,
        /// The trusted key ids.
        trusted: String,
    },
    /// The signature does not match the content.
    #[error("licence signature does not verify with key {key_id}: the licence was changed after signing or is damaged")]
    BadSignature {
        /// The key id.
        key_id: String,
    },
    /// An old-style signature of the whole content instead of its hash.
    #[error(
        "licence has a legacy minisign signature (not prehashed); sign it with a current minisign"
    )]
    LegacySignature,
    /// A lower sequence than the licence in force.
    #[error("licence sequence {offered} is lower than the installed sequence {installed}")]
    Downgrade {
        /// The refused licence's sequence.
        offered: u64,
        /// The sequence in force.
        installed: u64,
    },
    /// The sequence of the licence in force, but other content.
    #[error("licence sequence {0} is already installed with other content")]
    SameSequenceOtherContent(u64),
    /// For another installation.
    #[error("licence is for serial {offered}, this installation has serial {installed}")]
    OtherSerial {
        /// The refused licence's serial.
        offered: String,
        /// The serial in force.
        installed: String,
    },
    /// The licence in force itself, offered for installation again.
    #[error("licence sequence {0} is in force already")]
    AlreadyInForce(u64),
}

impl LicenceError {
    /// A short machine-readable kind (the `code` of a plugin's [`PluginError`]), so that
    /// callers match the kind and never the words.
    ///
    /// [`PluginError`]: remote_service_plugin_api::PluginError
    pub fn code(&self) -> &'static str {
        match self {
            LicenceError::Format(_) => "not-a-licence",
            LicenceError::UnknownKey { .. } => "unknown-key",
            LicenceError::BadSignature { .. } | LicenceError::LegacySignature => "bad-signature",
            LicenceError::Downgrade { .. } => "downgrade",
            LicenceError::SameSequenceOtherContent(_) => "reused-sequence",
            LicenceError::OtherSerial { .. } => "other-serial",
            LicenceError::AlreadyInForce(_) => "already-in-force",
        }
    }
}

/// Whether `bytes` is a licence that may be installed now: verified with `keys`, and newer
/// than the licence in force by [`judge`]'s rules; the licence in force itself is
/// [`LicenceError::AlreadyInForce`].
pub fn check_for_install(
    bytes: &[u8],
    keys: &TrustedKeys,
    in_force: Option<&VerifiedLicence>,
) -> Result<VerifiedLicence, LicenceError> {
    let licence = verify_licence(bytes, keys)?;
    match judge(&licence, in_force)? {
        Verdict::Newer => Ok(licence),
        Verdict::Same => Err(LicenceError::AlreadyInForce(licence.payload.sequence)),
    }
}

/// Verifies a licence file: signature with a trusted key first, then the trusted comment,
/// then the payload.
pub fn verify_licence(bytes: &[u8], keys: &TrustedKeys) -> Result<VerifiedLicence, LicenceError> {
    let armoured = split(bytes)?;
    let signature = minisign_verify::Signature::decode(&armoured.signature).map_err(|error| {
        FormatError::Malformed(format!("the signature block is not minisign's: {error}"))
    })?;
    let key = keys
        .get(&armoured.key_id)
        .ok_or_else(|| LicenceError::UnknownKey {
            key_id: armoured.key_id.clone(),
            trusted: keys.ids().join(", "),
        })?;
    key.key
        .verify(&armoured.payload, &signature, false)
        .map_err(|error| match error {
            minisign_verify::Error::UnexpectedAlgorithm => LicenceError::LegacySignature,
            _ => LicenceError::BadSignature {
                key_id: armoured.key_id.clone(),
            },
        })?;

    // Verified: from here on the content is the signer's.
    let (payload, payload_json) = read_payload(armoured.payload, signature.trusted_comment())?;
    let mut warnings = Vec::new();
    let now = OffsetDateTime::now_utc();
    if payload.issued_at > now + Duration::minutes(5) {
        warnings.push(format!(
            "licence {} was issued at {}, in the future: check this computer's clock",
            payload.licence_id,
            payload
                .issued_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        ));
    }
    Ok(VerifiedLicence {
        payload,
        key_id: armoured.key_id,
        bytes: bytes.to_vec(),
        payload_json,
        warnings,
    })
}

/// An update released on a day after the maintenance period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the release date {release_date} is after the end of maintenance {maintenance_through}; extend the maintenance contract to install this update")]
pub struct NotEntitled {
    /// The update's release date.
    pub release_date: Date,
    /// The last day of maintenance.
    pub maintenance_through: Date,
}

/// Whether the licence's maintenance covers an update released on `release_date`. Never
/// looks at the system clock.
pub fn check_entitlement(licence: &VerifiedLicence, release_date: Date) -> Result<(), NotEntitled> {
    let maintenance_through = licence.payload.maintenance_through;
    if release_date <= maintenance_through {
        Ok(())
    } else {
        Err(NotEntitled {
            release_date,
            maintenance_through,
        })
    }
}

/// A path and why it was refused; used by the store.
pub(crate) fn refusal(path: PathBuf, reason: impl ToString) -> Refusal {
    Refusal {
        path,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests;
