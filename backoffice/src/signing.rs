//! Signing keys and licences: the licence file of `docs/licence-format.md`, a minisign
//! (prehashed Ed25519) signature over the payload JSON with the trusted comment
//! `remote-service-licence-v1 <licence_id> <sequence>`.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::store::{self, Organisation, Serial};

/// Writes `DIR/licence.pub` and `DIR/licence.key` (unencrypted, 0600); never overwrites.
pub fn generate_keys(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let public = dir.join("licence.pub");
    let secret = dir.join("licence.key");
    for path in [&public, &secret] {
        if path.exists() {
            bail!("{} exists already; nothing was written", path.display());
        }
    }
    let pair = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|error| anyhow!("cannot make a key pair: {error}"))?;
    let secret_text = pair
        .sk
        .to_box(None)
        .map_err(|error| anyhow!("{error}"))?
        .into_string();
    write_new(&secret, secret_text.as_bytes(), 0o600)?;
    let public_text = pair
        .pk
        .to_box()
        .map_err(|error| anyhow!("{error}"))?
        .into_string();
    write_new(&public, public_text.as_bytes(), 0o644)?;
    Ok((public, secret))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A licensed option from the command line: `code` or `code=count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feature {
    /// The option's code.
    pub code: String,
    /// The count, for counted options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// Reads `CODE[=COUNT],…`.
pub fn parse_features(text: &str) -> Result<Vec<Feature>, String> {
    let mut features: Vec<Feature> = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let (code, count) = match part.split_once('=') {
            Some((code, count)) => {
                let count = count
                    .parse::<u64>()
                    .map_err(|_| format!("{part:?}: the count must be a whole number"))?;
                (code, Some(count))
            }
            None => (part, None),
        };
        if code.is_empty()
            || !code
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || character == '-')
        {
            return Err(format!(
                "{part:?}: a feature code is letters, digits and '-'"
            ));
        }
        if features.iter().any(|feature| feature.code == code) {
            return Err(format!("{code} is given twice"));
        }
        features.push(Feature {
            code: code.to_string(),
            count,
        });
    }
    Ok(features)
}

#[derive(Serialize)]
struct Party<'a> {
    id: &'a str,
    name: &'a str,
}

/// The payload, in the field order of `docs/licence-format.md`.
#[derive(Serialize)]
struct Payload<'a> {
    format: u32,
    licence_id: &'a str,
    serial_number: &'a str,
    sequence: u64,
    issued_at: &'a str,
    organisation: Party<'a>,
    product: Party<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    licence_expires_at: Option<&'a str>,
    maintenance_through: &'a str,
    features: &'a [Feature],
}

/// What a licence grants.
pub struct LicenceTerms {
    /// The options.
    pub features: Vec<Feature>,
    /// The last day of maintenance.
    pub maintenance_through: Date,
    /// When the licence ends; perpetual when absent.
    pub expires: Option<OffsetDateTime>,
}

/// An issued licence.
pub struct Issued {
    /// The licence file.
    pub text: String,
    /// Its sequence.
    pub sequence: u64,
    /// Its identifier.
    pub licence_id: String,
}

/// Signs the next licence of `serial` with the secret key file and stores it.
pub fn issue_licence(
    db: &rusqlite::Connection,
    serial: &str,
    terms: &LicenceTerms,
    secret_key_file: &Path,
) -> Result<Issued> {
    let text = fs::read_to_string(secret_key_file)
        .with_context(|| format!("cannot read {}", secret_key_file.display()))?;
    let secret = minisign::SecretKeyBox::from_string(&text)
        .and_then(|secret_box| secret_box.into_unencrypted_secret_key())
        .map_err(|error| {
            anyhow!(
                "{} is not an unencrypted minisign secret key: {error}",
                secret_key_file.display()
            )
        })?;
    let Serial {
        organisation_id,
        product_id,
        product_name,
        ..
    } = store::serial(db, serial)?.ok_or_else(|| {
        anyhow!("serial number {serial} is not registered: `serial add` it first")
    })?;
    let Organisation {
        name: organisation_name,
        ..
    } = store::organisation(db, &organisation_id)?
        .ok_or_else(|| anyhow!("the organisation {organisation_id} of {serial} is gone"))?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds");
    let issued_at = now.format(&Rfc3339)?;
    let expires = terms
        .expires
        .map(|time| time.to_offset(time::UtcOffset::UTC).format(&Rfc3339))
        .transpose()?;
    let maintenance_through = terms
        .maintenance_through
        .format(time::macros::format_description!("[year]-[month]-[day]"))?;
    // The sequence and the row are taken in one transaction, so that two admins issuing at
    // once never produce the same sequence.
    let transaction = db.unchecked_transaction()?;
    let sequence = store::latest_sequence(&transaction, serial)?.unwrap_or(0) + 1;
    let licence_id = format!("LIC-{serial}-{sequence}");
    let payload = serde_json::to_vec(&Payload {
        format: 1,
        licence_id: &licence_id,
        serial_number: serial,
        sequence,
        issued_at: &issued_at,
        organisation: Party {
            id: &organisation_id,
            name: &organisation_name,
        },
        product: Party {
            id: &product_id,
            name: &product_name,
        },
        licence_expires_at: expires.as_deref(),
        maintenance_through: &maintenance_through,
        features: &terms.features,
    })?;
    let trusted_comment = format!("remote-service-licence-v1 {licence_id} {sequence}");
    let signature = minisign::sign(
        None,
        &secret,
        Cursor::new(&payload),
        Some(&trusted_comment),
        Some("remote service licence"),
    )
    .map_err(|error| anyhow!("cannot sign: {error}"))?;
    let text = armour(&payload, &signature.into_string());
    store::add_licence(
        &transaction,
        serial,
        sequence,
        &licence_id,
        &text,
        &issued_at,
    )?;
    transaction.commit()?;
    Ok(Issued {
        text,
        sequence,
        licence_id,
    })
}

/// The licence file around a payload and its signature.
pub fn armour(payload: &[u8], signature: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
    let mut text = "-----BEGIN REMOTE SERVICE LICENCE-----\n".to_string();
    for chunk in encoded.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        text.push('\n');
    }
    text.push_str("-----END REMOTE SERVICE LICENCE-----\n");
    text.push_str(signature.trim_end());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<Vec<(&str, Option<u64>)>, &str>) {
        let actual = parse_features(text);
        match (actual, expect) {
            (Ok(features), Ok(expected)) => {
                let features: Vec<(&str, Option<u64>)> = features
                    .iter()
                    .map(|feature| (feature.code.as_str(), feature.count))
                    .collect();
                assert_eq!(features, expected, "{text}");
            }
            (Err(message), Err(fragment)) => {
                assert!(message.contains(fragment), "{text}: {message}")
            }
            (actual, expected) => panic!("{text}: {actual:?} vs {expected:?}"),
        }
    }

    #[test]
    fn features() {
        check(
            "auto-licence-update,users=25",
            Ok(vec![("auto-licence-update", None), ("users", Some(25))]),
        );
        check(
            " remote-assistance , ",
            Ok(vec![("remote-assistance", None)]),
        );
        check("", Ok(vec![]));
        check("users=many", Err("whole number"));
        check("users=-1", Err("whole number"));
        check("bad code", Err("letters, digits"));
        check("users=1,users=2", Err("twice"));
    }
}
