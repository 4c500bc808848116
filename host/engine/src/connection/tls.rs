//! TLS for the back office: rustls with the ring provider and the platform's verifier
//! (the system's trusted certificates), plus the certificates of `backoffice_ca_file`.
//! Certificates are always verified; there is no switch to turn that off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;

/// The certificate file or the TLS setup cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The file cannot be read or has no certificate.
    #[error("cannot use certificate file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the setup.
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The largest certificate file read: a bundle of a few hundred certificates fits.
const MAX_CERTIFICATE_FILE: u64 = 1024 * 1024;

/// Reads every certificate of a PEM file; a file without one is an error. The file is
/// opened once, without following a link or waiting on a FIFO, and at most 1 MiB is read.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let failed = |reason: String| TlsSetupError::File {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = crate::atomic_file::read_bounded(path, MAX_CERTIFICATE_FILE)
        .map_err(|error| failed(error.to_string()))?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|error| failed(pem_reason(&error)))?;
    if certificates.is_empty() {
        return Err(failed("it contains no PEM certificate".to_string()));
    }
    Ok(certificates)
}

fn pem_reason(error: &rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(error) => error.to_string(),
        other => format!("it is not a PEM certificate file ({other:?})"),
    }
}

/// The client configuration for the back office: the system's trusted certificates and
/// those of `extra_ca_file`.
pub fn client_config(extra_ca_file: Option<&Path>) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match extra_ca_file {
        Some(path) => read_certificates(path)?,
        None => Vec::new(),
    };
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let message = read_certificates(&path).unwrap_err().to_string();
        assert!(message.contains("ca.pem"), "{message}");
        assert!(message.contains("no PEM certificate"), "{message}");
        let missing = read_certificates(&dir.path().join("missing.pem"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing.pem"), "{missing}");
    }

    #[test]
    fn the_system_configuration_builds() {
        client_config(None).unwrap();
    }
}
