//! Finding plugin files and refusing those that someone else could have changed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A file in the plugin folder whose name matches the plugin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The file, as the folder lists it.
    pub path: PathBuf,
    /// Where it really is (links resolved), which is what is loaded; `Err` with the reason
    /// when it may not be loaded (someone else could change it or a folder above it).
    pub permission: Result<PathBuf, String>,
}

/// Why the plugin folder itself cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The folder cannot be listed.
    #[error("cannot list plugin folder {path}: {source}")]
    Read {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The folder could be changed by someone other than its owner.
    #[error("plugin folder {path} refused: {reason}")]
    Unsafe {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What every plugin library's file name starts with after the platform's library prefix.
const PLUGIN_STEM: &str = "remote_service_plugin_";

/// Whether `file_name` is the name of a plugin library on this platform
/// (`libremote_service_plugin_*.so`, `remote_service_plugin_*.dll`,
/// `libremote_service_plugin_*.dylib`).
pub fn matches_pattern(file_name: &str) -> bool {
    file_name
        .strip_prefix(std::env::consts::DLL_PREFIX)
        .and_then(|rest| rest.strip_prefix(PLUGIN_STEM))
        .and_then(|rest| rest.strip_suffix(std::env::consts::DLL_SUFFIX))
        .is_some_and(|name| !name.is_empty())
}

/// The file name a plugin called `name` has on this platform.
pub fn plugin_file_name(name: &str) -> String {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    format!("{DLL_PREFIX}{PLUGIN_STEM}{name}{DLL_SUFFIX}")
}

/// Lists the plugin files of `dir`, sorted by name. The folder must be safe; each file's
/// own permissions are judged separately so that one bad file does not hide the others.
pub fn discover(dir: &Path) -> Result<Vec<Candidate>, DiscoveryError> {
    if let Err(reason) = crate::trust::check(dir) {
        return Err(DiscoveryError::Unsafe {
            path: dir.to_path_buf(),
            reason,
        });
    }
    let entries = fs::read_dir(dir).map_err(|source| DiscoveryError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut candidates: Vec<Candidate> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_str().is_some_and(matches_pattern))
        .map(|entry| {
            let path = entry.path();
            let permission = crate::trust::check(&path);
            Candidate { path, permission }
        })
        .collect();
    candidates.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file_name: &str, expect: bool) {
        assert_eq!(matches_pattern(file_name), expect, "{file_name}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn plugin_name_pattern() {
        check("libremote_service_plugin_licence_updater.so", true);
        check("libremote_service_plugin_.so", false);
        check("libremote_service_plugin_x.so.1", false);
        check("libfixture_misbehaving_plugin.so", false);
        check("libremote_service_plugin_api.rlib", false);
        check("remote-service", false);
    }

    #[cfg(unix)]
    #[test]
    fn unsafe_folders_and_files_are_refused_with_the_reason() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join(plugin_file_name("ok"));
        fs::write(&plugin, b"").unwrap();
        fs::set_permissions(&plugin, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            discover(dir.path()).unwrap()[0].permission,
            Ok(fs::canonicalize(&plugin).unwrap())
        );

        fs::set_permissions(&plugin, fs::Permissions::from_mode(0o666)).unwrap();
        let reason = discover(dir.path()).unwrap()[0]
            .permission
            .clone()
            .unwrap_err();
        assert!(
            reason.contains("anyone can write it (mode 0666)"),
            "{reason}"
        );

        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let error = discover(dir.path()).unwrap_err().to_string();
        assert!(error.contains("anyone can write it (mode 0777)"), "{error}");
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
    }
}
