//! The public keys a licence may be signed with: built into the binary, plus minisign
//! `*.pub` files in the system configuration folder.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use minisign_verify::PublicKey;

use remote_service_licence_format::key_id_text;

use crate::atomic_file::read_bounded;

/// A minisign public key file is two short lines.
const MAX_KEY_FILE: u64 = 4096;

/// The vendor's keys built into the binary: (file name, contents).
const BUILT_IN: &[(&str, &str)] = &[(
    "vendor-2026.pub",
    include_str!("../../keys/vendor-2026.pub"),
)];

/// One trusted key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key id as minisign prints it.
    pub id: String,
    /// Where it came from (`built-in vendor-2026.pub` or the file's path).
    pub source: String,
    /// The key.
    pub key: PublicKey,
}

/// The set of trusted keys.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// The keys built into the binary only.
    pub fn built_in() -> TrustedKeys {
        let mut keys = TrustedKeys::default();
        for (name, text) in BUILT_IN {
            match parse_public_key(text) {
                // The package ships the built-in key as a file too (so that a later one can
                // be added beside it): the same key is trusted once.
                Ok((id, _)) if keys.keys.iter().any(|known| known.id == id) => {}
                Ok((id, key)) => keys.keys.push(TrustedKey {
                    id,
                    source: format!("built-in {name}"),
                    key,
                }),
                Err(reason) => tracing::error!("built-in key {name} is unusable: {reason}"),
            }
        }
        keys
    }

    /// The built-in keys plus every `*.pub` file in `system_dir` (a missing folder is
    /// fine; a file that is not a minisign public key, or that someone other than its owner,
    /// the user or root, could change — it or a folder above it — is skipped with a warning
    /// naming it: a key decides what a licence grants).
    pub fn load(system_dir: &Path) -> TrustedKeys {
        let mut keys = TrustedKeys::built_in();
        let Ok(entries) = fs::read_dir(system_dir) else {
            return keys;
        };
        if let Err(reason) = crate::trust::check(system_dir) {
            tracing::warn!(
                "trusted key folder {} refused, its keys are not trusted: {reason}",
                system_dir.display()
            );
            return keys;
        }
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "pub"))
            .collect();
        files.sort();
        for path in files {
            let parsed = crate::trust::check(&path)
                .and_then(|resolved| {
                    read_bounded(&resolved, MAX_KEY_FILE).map_err(|error| error.to_string())
                })
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| "it is not text".to_string())
                })
                .and_then(|text| parse_public_key(&text));
            match parsed {
                // The package ships the built-in key as a file too (so that a later one can
                // be added beside it): the same key is trusted once.
                Ok((id, _)) if keys.keys.iter().any(|known| known.id == id) => {}
                Ok((id, key)) => keys.keys.push(TrustedKey {
                    id,
                    source: path.display().to_string(),
                    key,
                }),
                Err(reason) => {
                    tracing::warn!("trusted key file {} skipped: {reason}", path.display())
                }
            }
        }
        keys
    }

    /// The ids of the trusted keys.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|key| key.id.clone()).collect()
    }

    /// The key with id `id`.
    pub fn get(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|key| key.id == id)
    }
}

/// Reads a minisign public key file: its id and the key.
fn parse_public_key(text: &str) -> Result<(String, PublicKey), String> {
    let key =
        PublicKey::decode(text).map_err(|error| format!("not a minisign public key: {error}"))?;
    let line = text.lines().nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|_| "not a minisign public key: the key line is not base64".to_string())?;
    Ok((key_id_text(&bytes[2..10]), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendor_key_is_built_in() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            TrustedKeys::load(&dir.path().join("missing")).ids(),
            vec!["7CE99D1D729C426B"]
        );
    }

    #[test]
    fn pub_files_of_the_system_folder_are_trusted_and_bad_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        fs::write(
            dir.path().join("demo.pub"),
            pair.pk.to_box().unwrap().into_string(),
        )
        .unwrap();
        fs::write(
            dir.path().join("broken.pub"),
            "untrusted comment: x\nnot a key\n",
        )
        .unwrap();
        fs::write(dir.path().join("ignored.txt"), "x").unwrap();
        let keys = TrustedKeys::load(dir.path());
        let expected_id = key_id_text(pair.pk.keynum());
        assert_eq!(
            keys.ids(),
            vec!["7CE99D1D729C426B".to_string(), expected_id.clone()]
        );
        assert!(keys.get(&expected_id).unwrap().source.ends_with("demo.pub"));
    }

    /// A key decides what a licence grants: one that someone else could have put there, or
    /// could change, is not trusted.
    #[cfg(unix)]
    #[test]
    fn keys_others_could_change_are_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let key = dir.path().join("vendor.pub");
        fs::write(&key, pair.pk.to_box().unwrap().into_string()).unwrap();
        let id = key_id_text(pair.pk.keynum());
        let mode = |path: &Path, mode: u32| {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap()
        };
        mode(dir.path(), 0o755);
        mode(&key, 0o644);
        assert!(TrustedKeys::load(dir.path()).get(&id).is_some());
        mode(&key, 0o666);
        assert!(
            TrustedKeys::load(dir.path()).get(&id).is_none(),
            "a key anyone can write"
        );
        mode(&key, 0o644);
        mode(dir.path(), 0o777);
        assert!(
            TrustedKeys::load(dir.path()).get(&id).is_none(),
            "a folder anyone can write"
        );
        mode(dir.path(), 0o755);
        // A link to a key kept where others can write.
        let open = tempfile::tempdir().unwrap();
        mode(open.path(), 0o777);
        let elsewhere = open.path().join("elsewhere.pub");
        fs::rename(&key, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &key).unwrap();
        assert!(
            TrustedKeys::load(dir.path()).get(&id).is_none(),
            "a link into an open folder"
        );
    }
}
