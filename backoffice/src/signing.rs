//! Signing keys and licences: the licence file of `docs/licence-format.md`, a minisign
//! (prehashed Ed25519) signature over the payload JSON with the trusted comment
//! `remote-service-licence-v1 <licence_id> <sequence>`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
pub use remote_service_licence_format::Feature;
use remote_service_licence_format::{LicencePayload, Party, FORMAT};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::store::{self, Organisation, Serial, Store};

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

/// Reads the licensed options of the command line: `CODE[=COUNT],…`.
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
    db: &mut Store,
    serial: &str,
    terms: &LicenceTerms,
    secret_key_file: &Path,
) -> Result<Issued> {
    let secret_key = fs::read_to_string(secret_key_file)
        .with_context(|| format!("cannot read {}", secret_key_file.display()))?;
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
    let issued_at = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds");
    // The sequence and the row are taken in one transaction, so that two admins issuing at
    // once never produce the same sequence. It holds the licences' write lock before it
    // reads (SQLite: `BEGIN IMMEDIATE`, waiting the busy timeout for it, so that the running
    // server's writes between the read and the write cannot make SQLite refuse to promote it;
    // PostgreSQL: `store::lock_licences`).
    let (text, sequence, licence_id) = db.transaction(|db| {
        store::lock_licences(db)?;
        let sequence = store::latest_sequence(db, serial)?.unwrap_or(0) + 1;
        let licence_id = format!("LIC-{serial}-{sequence}");
        let payload = LicencePayload {
            format: FORMAT,
            licence_id: licence_id.clone(),
            serial_number: serial.to_string(),
            sequence,
            issued_at,
            organisation: Party {
                id: organisation_id,
                name: organisation_name,
            },
            product: Party {
                id: product_id,
                name: product_name,
            },
            licence_expires_at: terms
                .expires
                .map(|time| time.to_offset(time::UtcOffset::UTC)),
            maintenance_through: terms.maintenance_through,
            features: terms.features.clone(),
        };
        let payload_json = serde_json::to_vec(&payload)?;
        let text = remote_service_licence_format::sign(
            &secret_key,
            &payload_json,
            &remote_service_licence_format::trusted_comment(&licence_id, sequence),
        )
        .with_context(|| format!("cannot sign with {}", secret_key_file.display()))?;
        let issued_at = issued_at.format(&Rfc3339)?;
        store::add_licence(db, serial, sequence, &licence_id, &text, &issued_at)?;
        Ok((text, sequence, licence_id))
    })?;
    Ok(Issued {
        text,
        sequence,
        licence_id,
    })
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

    /// Splits a licence file into its payload and its minisign signature, as the engine
    /// does, and checks the armour's line length.
    fn unarmour(text: &str) -> (Vec<u8>, String) {
        let lines: Vec<&str> = text.lines().collect();
        let end = lines
            .iter()
            .position(|line| *line == remote_service_licence_format::END)
            .expect("an END line");
        assert!(lines[1..end].iter().all(|line| line.len() <= 64));
        let armoured = remote_service_licence_format::split(text.as_bytes()).unwrap();
        (armoured.payload, armoured.signature)
    }

    #[test]
    fn issued_licences_are_signed_strict_payloads_with_rising_sequences() {
        let dir = tempfile::tempdir().unwrap();
        let (public, secret) = generate_keys(&dir.path().join("keys")).unwrap();
        let mut db = Store::open(&store::Location::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        store::add_organisation(&mut db, "ORG-42", "Demo Print Shop", "hash").unwrap();
        store::add_serial(
            &mut db,
            &Serial {
                serial: "RS-1001".into(),
                organisation_id: "ORG-42".into(),
                product_id: "prismaprepare".into(),
                product_name: "PRISMAprepare".into(),
            },
        )
        .unwrap();
        let terms = |features: &str, expires: Option<OffsetDateTime>| LicenceTerms {
            features: parse_features(features).unwrap(),
            maintenance_through: time::macros::date!(2027 - 12 - 31),
            expires,
        };
        let first = issue_licence(
            &mut db,
            "RS-1001",
            &terms("auto-licence-update", None),
            &secret,
        )
        .unwrap();
        let second = issue_licence(
            &mut db,
            "RS-1001",
            &terms(
                "auto-licence-update,users=25",
                Some(time::macros::datetime!(2027-11-23 01:00:00 +01:00)),
            ),
            &secret,
        )
        .unwrap();
        assert_eq!((first.sequence, second.sequence), (1, 2));
        assert_eq!(second.licence_id, "LIC-RS-1001-2");

        let public_key = minisign::PublicKey::from_file(&public).unwrap();
        for issued in [&first, &second] {
            let (payload, signature) = unarmour(&issued.text);
            let signature = minisign::SignatureBox::from_string(&signature).unwrap();
            assert!(signature.is_prehashed());
            assert_eq!(
                signature.trusted_comment().unwrap(),
                format!(
                    "remote-service-licence-v1 {} {}",
                    issued.licence_id, issued.sequence
                )
            );
            minisign::verify(
                &public_key,
                &signature,
                std::io::Cursor::new(&payload),
                true,
                false,
                false,
            )
            .expect("the signature verifies");
            let mut tampered = payload.clone();
            tampered[10] ^= 1;
            assert!(minisign::verify(
                &public_key,
                &signature,
                std::io::Cursor::new(&tampered),
                true,
                false,
                false
            )
            .is_err());
        }

        let (payload, _) = unarmour(&second.text);
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            text.contains(r#""licence_expires_at":"2027-11-23T00:00:00Z""#),
            "{text}"
        );
        assert!(text.contains(r#""issued_at":""#) && text.contains(r#"Z","organisation""#));
        let comment = format!("remote-service-licence-v1 {} {}", second.licence_id, 2);
        let (read, _) = remote_service_licence_format::read_payload(payload, &comment).unwrap();
        assert_eq!(read.format, 1);
        assert_eq!(read.serial_number, "RS-1001");
        assert_eq!(read.sequence, 2);
        assert_eq!(read.licence_id, "LIC-RS-1001-2");
        assert_eq!(read.issued_at.nanosecond(), 0);
        assert!((OffsetDateTime::now_utc() - read.issued_at).abs() < time::Duration::minutes(1));
        assert_eq!(
            (
                read.organisation.id.as_str(),
                read.organisation.name.as_str()
            ),
            ("ORG-42", "Demo Print Shop")
        );
        assert_eq!(
            (read.product.id.as_str(), read.product.name.as_str()),
            ("prismaprepare", "PRISMAprepare")
        );
        assert_eq!(
            read.licence_expires_at,
            Some(time::macros::datetime!(2027-11-23 00:00:00 UTC))
        );
        assert_eq!(
            read.maintenance_through,
            time::macros::date!(2027 - 12 - 31)
        );
        let features: Vec<(&str, Option<u64>)> = read
            .features
            .iter()
            .map(|feature| (feature.code.as_str(), feature.count))
            .collect();
        assert_eq!(
            features,
            [("auto-licence-update", None), ("users", Some(25))]
        );
        let (first_payload, _) = unarmour(&first.text);
        let first_text = String::from_utf8(first_payload).unwrap();
        assert!(
            !first_text.contains("licence_expires_at"),
            "perpetual: {first_text}"
        );

        assert_eq!(
            store::latest_licence(&mut db, "RS-1001")
                .unwrap()
                .unwrap()
                .text,
            second.text
        );
        let unknown = issue_licence(&mut db, "RS-404", &terms("users=1", None), &secret)
            .err()
            .unwrap();
        assert_eq!(
            unknown.to_string(),
            "serial number RS-404 is not registered: `serial add` it first"
        );
    }

    #[test]
    fn keys_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (public, secret) = generate_keys(dir.path()).unwrap();
        let before = fs::read(&secret).unwrap();
        let again = generate_keys(dir.path()).unwrap_err();
        assert_eq!(
            again.to_string(),
            format!("{} exists already; nothing was written", public.display())
        );
        assert_eq!(fs::read(&secret).unwrap(), before);
        let public_text = fs::read_to_string(&public).unwrap();
        assert!(
            public_text.starts_with("untrusted comment: minisign public key"),
            "{public_text}"
        );
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
