//! What the engine shows of its parts: the licence in words, the settings by key, and
//! what the licence store and the connection are made from.

use remote_service_api::{ConfigView, FeatureSummary, LicenceSummary, Named};
use time::format_description::well_known::Rfc3339;

use crate::connection::{CodeState, ConnectionConfig, ProxyPasswordState};
use crate::licence::{StoreConfig, VerifiedLicence};
use crate::paths::Paths;
use crate::secrets::{Secret, SecretStore};
use crate::settings::Settings;

/// Where the licence store of these settings reads and keeps licences.
pub fn store_config(paths: &Paths, settings: &Settings) -> StoreConfig {
    StoreConfig {
        licence_folder: settings
            .licence
            .local_folder
            .clone()
            .unwrap_or_else(|| paths.default_licence_folder()),
        system_dir: paths.system_dir.clone(),
        state_dir: paths.state_dir.clone(),
    }
}

/// What the back office connection needs: the settings, the verification code from the
/// keyring and the serial number of the licence in force.
pub fn connection_config(
    settings: &Settings,
    code: &CodeState,
    proxy_password: &ProxyPasswordState,
    licence: Option<&VerifiedLicence>,
) -> ConnectionConfig {
    ConnectionConfig {
        enabled: settings.enabled,
        url: settings.backoffice_url().to_string(),
        ca_file: settings.backoffice_ca_file.clone(),
        organisation_id: settings.organisation_id.clone(),
        verification_code: code.clone(),
        serial_number: licence.map(|licence| licence.payload.serial_number.clone()),
        licence_sequence: licence.map(|licence| licence.payload.sequence),
        request_timeout: settings.connection.request_timeout(),
        proxy: crate::connection::ProxyConfig {
            settings: settings.proxy.clone(),
            password: proxy_password.clone(),
        },
    }
}

/// The settings by key and whether each secret is set (never its value, which is not
/// even read).
pub fn config_view(
    paths: &Paths,
    settings: &Settings,
    secrets: &SecretStore,
    known: &SecretsKnown,
) -> ConfigView {
    ConfigView {
        file: paths.settings_file(),
        settings: crate::config::entries(settings)
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect(),
        secrets: Secret::ALL
            .iter()
            .map(|secret| (secret.key().to_string(), known.state(*secret)))
            .collect(),
        secret_store: secrets.backend(),
        log_file: Some(paths.log_file()),
        data_dir: Some(paths.data_dir.clone()),
    }
}

/// Which secrets are set, as the keyring thread last found (the engine's thread never asks
/// the keyring: it may not answer).
#[derive(Debug, Clone, Default)]
pub struct SecretsKnown(std::collections::BTreeMap<&'static str, Result<bool, String>>);

impl SecretsKnown {
    /// What the keyring said of `secret`.
    pub fn learn(&mut self, secret: Secret, set: Result<bool, String>) {
        self.0.insert(secret.key(), set);
    }

    /// Whether `secret` may be set (it is, or the keyring has not said it is not).
    pub fn may_be_set(&self, secret: Secret) -> bool {
        !matches!(self.0.get(secret.key()), Some(Ok(false)))
    }

    /// The state in words, for `config show`.
    pub fn state(&self, secret: Secret) -> String {
        match self.0.get(secret.key()) {
            Some(Ok(true)) => "set".to_string(),
            Some(Ok(false)) => "not set".to_string(),
            Some(Err(error)) => format!("cannot be read: {error}"),
            None => "not known yet: the keyring has not answered".to_string(),
        }
    }
}

/// What the user needs to know of a verified licence.
pub fn summary(licence: &VerifiedLicence) -> LicenceSummary {
    let payload = &licence.payload;
    let named = |party: &crate::licence::Party| Named {
        id: party.id.clone(),
        name: party.name.clone(),
    };
    LicenceSummary {
        serial_number: payload.serial_number.clone(),
        organisation: named(&payload.organisation),
        product: named(&payload.product),
        licence_id: payload.licence_id.clone(),
        sequence: payload.sequence,
        issued_at: payload.issued_at.format(&Rfc3339).unwrap_or_default(),
        licence_expires_at: payload
            .licence_expires_at
            .map(|at| at.format(&Rfc3339).unwrap_or_default()),
        maintenance_through: payload.maintenance_through.to_string(),
        features: payload
            .features
            .iter()
            .map(|feature| FeatureSummary {
                code: feature.code.clone(),
                count: feature.count,
            })
            .collect(),
        key_id: licence.key_id.clone(),
        warnings: licence
            .warnings
            .iter()
            .cloned()
            .chain(expired_warning(licence, time::OffsetDateTime::now_utc()))
            .collect(),
    }
}

/// The warning of a licence whose end has passed. An expired licence stays the one in force
/// here: the serial number it names is how the back office knows this installation, and the
/// renewal arrives through that connection. Its options stay available to the plugins
/// (remote assistance is what a customer with an expired licence may need most); the
/// product's own licence server decides for the product. The user is told, here and by the
/// licence updater's critical notice.
pub fn expired_warning(licence: &VerifiedLicence, now: time::OffsetDateTime) -> Option<String> {
    let expires = licence.payload.licence_expires_at?;
    (expires <= now).then(|| {
        format!(
            "the licence expired on {}: contact your supplier for a new licence (it stays in force here until one arrives)",
            expires.date()
        )
    })
}
