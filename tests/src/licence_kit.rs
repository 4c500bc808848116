//! Making real licences for tests and the demo: minisign key pairs and signed payloads.
//! Test support only; the product never signs anything.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use remote_service_licence_format::{key_id_text, trusted_comment, Feature, LicencePayload, Party};
use time::format_description::well_known::Rfc3339;

/// A key pair on disk.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    /// The minisign public key file (`NAME.pub`).
    pub public: PathBuf,
    /// The unencrypted minisign secret key file (`NAME.key`, mode 0600).
    pub secret: PathBuf,
    /// The key id as minisign prints it.
    pub key_id: String,
}

/// Makes a key pair `dir/NAME.pub` + `dir/NAME.key`.
pub fn generate_key(dir: &Path, name: &str) -> Result<KeyFiles> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pair = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|error| anyhow!("cannot make a key pair: {error}"))?;
    let public = dir.join(format!("{name}.pub"));
    let secret = dir.join(format!("{name}.key"));
    let public_box = pair.pk.to_box().map_err(|error| anyhow!("{error}"))?;
    fs::write(&public, public_box.into_string())
        .with_context(|| format!("cannot write {}", public.display()))?;
    let secret_box = pair.sk.to_box(None).map_err(|error| anyhow!("{error}"))?;
    write_private(&secret, secret_box.into_string().as_bytes())?;
    Ok(KeyFiles {
        public,
        secret,
        key_id: key_id_text(pair.pk.keynum()),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// Signs a payload with the secret key file and returns the armoured licence. The trusted
/// comment is made from the payload's `licence_id` and `sequence`.
pub fn sign_licence(secret_key: &Path, payload_json: &[u8]) -> Result<String> {
    let payload: serde_json::Value =
        serde_json::from_slice(payload_json).context("the payload is not JSON")?;
    let licence_id = payload["licence_id"]
        .as_str()
        .context("the payload has no licence_id")?;
    let sequence = payload["sequence"]
        .as_u64()
        .context("the payload has no numeric sequence")?;
    let key = fs::read_to_string(secret_key)
        .with_context(|| format!("cannot read {}", secret_key.display()))?;
    remote_service_licence_format::sign(&key, payload_json, &trusted_comment(licence_id, sequence))
        .with_context(|| format!("cannot sign with {}", secret_key.display()))
}

pub use remote_service_licence_format::armour;

/// A licence payload for tests, with sensible defaults.
#[derive(Debug, Clone)]
pub struct PayloadBuilder {
    serial_number: String,
    sequence: u64,
    features: Vec<(String, Option<u64>)>,
    maintenance_through: String,
    licence_expires_at: Option<String>,
    issued_at: String,
}

impl PayloadBuilder {
    /// A payload for `serial_number` at `sequence`, no features, maintenance through
    /// 2027-12-31, perpetual.
    pub fn new(serial_number: &str, sequence: u64) -> Self {
        PayloadBuilder {
            serial_number: serial_number.to_string(),
            sequence,
            features: Vec::new(),
            maintenance_through: "2027-12-31".to_string(),
            licence_expires_at: None,
            issued_at: "2026-11-01T09:00:00Z".to_string(),
        }
    }

    /// Adds an on/off option.
    pub fn feature(mut self, code: &str) -> Self {
        self.features.push((code.to_string(), None));
        self
    }

    /// Adds a counted option.
    pub fn feature_count(mut self, code: &str, count: u64) -> Self {
        self.features.push((code.to_string(), Some(count)));
        self
    }

    /// Sets the last day of maintenance.
    pub fn maintenance_through(mut self, date: &str) -> Self {
        self.maintenance_through = date.to_string();
        self
    }

    /// Sets the licence's end.
    pub fn licence_expires_at(mut self, time: &str) -> Self {
        self.licence_expires_at = Some(time.to_string());
        self
    }

    /// Sets when it was issued.
    pub fn issued_at(mut self, time: &str) -> Self {
        self.issued_at = time.to_string();
        self
    }

    /// The licence id (derived from the serial and sequence).
    pub fn licence_id(&self) -> String {
        format!("LIC-{}-{}", self.serial_number, self.sequence)
    }

    /// The payload, as the format crate writes it.
    pub fn payload(&self) -> LicencePayload {
        let time = |text: &str| {
            time::OffsetDateTime::parse(text, &Rfc3339)
                .unwrap_or_else(|error| panic!("{text:?} is not an RFC 3339 time: {error}"))
        };
        LicencePayload {
            format: remote_service_licence_format::FORMAT,
            licence_id: self.licence_id(),
            serial_number: self.serial_number.clone(),
            sequence: self.sequence,
            issued_at: time(&self.issued_at),
            organisation: Party {
                id: "ORG-DEMO".into(),
                name: "Demo Print Shop".into(),
            },
            product: Party {
                id: "prismadirect".into(),
                name: "PRISMAdirect".into(),
            },
            licence_expires_at: self.licence_expires_at.as_deref().map(time),
            maintenance_through: time::Date::parse(
                &self.maintenance_through,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .unwrap_or_else(|error| {
                panic!("{:?} is not a date: {error}", self.maintenance_through)
            }),
            features: self
                .features
                .iter()
                .map(|(code, count)| Feature {
                    code: code.clone(),
                    count: *count,
                })
                .collect(),
        }
    }

    /// The payload JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.payload()).expect("a payload serialises")
    }
}
