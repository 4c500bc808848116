//! Signing a payload into a licence file (feature `sign`): what the back office does when it
//! issues a licence, and the tests' licence kit when it makes one.

use std::io::Cursor;

use crate::armour;

/// Why a payload could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The secret key text is not an unencrypted minisign secret key.
    #[error("not an unencrypted minisign secret key: {0}")]
    Key(String),
    /// minisign failed.
    #[error("cannot sign: {0}")]
    Signing(String),
}

/// Signs `payload` (the JSON bytes, exactly as they will be signed) with the minisign
/// secret key `secret_key` (the text of an unencrypted `.key` file) and the trusted comment
/// `trusted_comment` (see [`crate::trusted_comment`]): the armoured licence file.
pub fn sign(secret_key: &str, payload: &[u8], trusted_comment: &str) -> Result<String, SignError> {
    let secret = minisign::SecretKeyBox::from_string(secret_key)
        .and_then(|secret_box| secret_box.into_unencrypted_secret_key())
        .map_err(|error| SignError::Key(error.to_string()))?;
    let signature = minisign::sign(
        None,
        &secret,
        Cursor::new(payload),
        Some(trusted_comment),
        Some("remote service licence"),
    )
    .map_err(|error| SignError::Signing(error.to_string()))?;
    Ok(armour(payload, &signature.into_string()))
}
