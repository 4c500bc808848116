//! The licence payload: the documented JSON, read strictly.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::{parse_trusted_comment, FormatError, TRUSTED_COMMENT_TAG};

time::serde::format_description!(plain_date, Date, "[year]-[month]-[day]");

/// The only payload format this version reads.
pub const FORMAT: u32 = 1;

/// The licence payload. Unknown fields are refused: a misspelt optional field must not
/// silently change what a licence grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicencePayload {
    /// The payload format, 1.
    pub format: u32,
    /// The licence's identifier.
    pub licence_id: String,
    /// The installation's serial number.
    pub serial_number: String,
    /// Increases with every issue for a serial number.
    pub sequence: u64,
    /// When it was issued (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// The customer's service organisation.
    pub organisation: Party,
    /// The licensed product.
    pub product: Party,
    /// When the licence ends; absent for a perpetual licence.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub licence_expires_at: Option<OffsetDateTime>,
    /// The last day (inclusive) of the maintenance period.
    #[serde(with = "plain_date")]
    pub maintenance_through: Date,
    /// The licensed options.
    pub features: Vec<Feature>,
}

/// An identifier with a name (organisation, product).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// The identifier.
    pub id: String,
    /// The name shown to people.
    pub name: String,
}

/// A licensed option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// The option's code (`auto-licence-update`, `users`).
    pub code: String,
    /// How many, for counted options; absent for on/off options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl LicencePayload {
    /// Whether the licence has option `code`.
    pub fn has_feature(&self, code: &str) -> bool {
        self.features.iter().any(|feature| feature.code == code)
    }

    /// The count of option `code`, if it is a counted option of this licence.
    pub fn feature_count(&self, code: &str) -> Option<u64> {
        self.features
            .iter()
            .find(|feature| feature.code == code)
            .and_then(|feature| feature.count)
    }
}

/// Reads the payload of a licence whose signature was verified, with the trusted comment
/// of that signature: the comment must be ours, the payload the documented JSON of format
/// [`FORMAT`] (unknown fields refused), and both must name the same licence id and
/// sequence. Returns the payload and its JSON text as signed.
pub fn read_payload(
    payload: Vec<u8>,
    trusted_comment: &str,
) -> Result<(LicencePayload, String), FormatError> {
    let comment_error = |reason: String| FormatError::TrustedComment {
        comment: trusted_comment.to_string(),
        reason,
    };
    let (comment_licence_id, comment_sequence) = parse_trusted_comment(trusted_comment)
        .ok_or_else(|| {
            comment_error(format!(
                "expected \"{TRUSTED_COMMENT_TAG} <licence_id> <sequence>\""
            ))
        })?;
    let json = String::from_utf8(payload)
        .map_err(|_| FormatError::Payload("it is not UTF-8 text".into()))?;
    let parsed: LicencePayload =
        serde_json::from_str(&json).map_err(|error| FormatError::Payload(error.to_string()))?;
    if parsed.format != FORMAT {
        return Err(FormatError::Payload(format!(
            "format {} is not supported (this version reads format {FORMAT})",
            parsed.format
        )));
    }
    if parsed.licence_id != comment_licence_id || parsed.sequence != comment_sequence {
        return Err(comment_error(format!(
            "the payload has licence id {} and sequence {}",
            parsed.licence_id, parsed.sequence
        )));
    }
    Ok((parsed, json))
}
