//! Every endpoint of the local API, as a value: the client builds its method and path here,
//! the engine's server parses the request back into it, so that the two can never disagree
//! and no path string is written anywhere else. Every segment is percent-encoded (a notice
//! key may hold a folder path with slashes and spaces).

use std::time::Duration;

use hyper::Method;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a path segment may hold unencoded: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One endpoint, with what its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /v1/status`: the [`crate::Status`].
    Status,
    /// `GET /v1/plugins`: the plugins of the status.
    Plugins,
    /// `GET /v1/licence`: the [`crate::LicenceSummary`] in force; 404 without one.
    Licence,
    /// `GET /v1/menu`: the plugins' menu items of the status.
    Menu,
    /// `GET /v1/events`: the event stream.
    Events,
    /// `GET /v1/config`: the [`crate::ConfigView`].
    Config,
    /// `GET /v1/config/{key}`: the setting's value (`{"value": …}`, null when not set);
    /// 400 with the reason for an unknown key or a secret.
    GetConfig {
        /// The setting.
        key: String,
    },
    /// `PUT /v1/config/{key}` with a [`crate::Value`].
    SetConfig {
        /// The setting.
        key: String,
    },
    /// `DELETE /v1/config/{key}`: back to the default.
    UnsetConfig {
        /// The setting.
        key: String,
    },
    /// `POST /v1/settings-file`: makes sure the settings file exists (to open it in an
    /// editor) and answers the [`crate::ConfigView`].
    SettingsFile,
    /// `PUT /v1/secrets/{name}` with a [`crate::Value`].
    SetSecret {
        /// The secret.
        name: String,
    },
    /// `DELETE /v1/secrets/{name}`.
    DeleteSecret {
        /// The secret.
        name: String,
    },
    /// `POST /v1/test-connection`: the [`crate::TestReport`].
    TestConnection,
    /// `POST /v1/proxy/resolve` with a [`crate::Value`] (the URL): the
    /// [`crate::ProxyResolution`], or 400 with why detection failed.
    ResolveProxy,
    /// `POST /v1/plugins/{plugin}/menu/{item}/click`.
    Click {
        /// The plugin.
        plugin: String,
        /// Its menu item.
        item: String,
    },
    /// `POST /v1/plugins/{plugin}/notices/{key}/actions/{action}`: a notice's button.
    NoticeAction {
        /// The plugin.
        plugin: String,
        /// The notice's key.
        key: String,
        /// The button.
        action: String,
    },
    /// `POST /v1/plugins/{plugin}/commands/{command}` with a [`crate::CommandRequest`]:
    /// the plugin's [`crate::CommandOutcome`] once it has answered.
    Command {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
    },
    /// `POST /v1/licence/verify` with a [`crate::LicenceText`]: the [`crate::LicenceCheck`].
    VerifyLicence,
    /// `POST /v1/licence/install` with a [`crate::LicenceText`]: [`crate::Installed`].
    InstallLicence,
    /// `GET /v1/entitlement/{release_date}`: the [`crate::Entitlement`].
    Entitlement {
        /// `YYYY-MM-DD`.
        release_date: String,
    },
    /// `PUT /v1/config` with [`crate::ConfigChanges`]: every change checked, then the file
    /// saved once; the [`crate::ConfigView`], or 400 and nothing changed.
    SetConfigs,
    /// `POST /v1/config/check` with [`crate::ConfigChanges`]: the [`crate::ConfigCheck`];
    /// nothing is saved.
    CheckConfig,
    /// `POST /v1/licence/folder-test` with a [`crate::Value`] (a folder): the
    /// [`crate::FolderTest`].
    TestFolder,
    /// `GET /v1/assistance`: the [`crate::AssistanceStatus`]; 404 when the feature is not
    /// there (the bridge plugin not installed or not licensed).
    Assistance,
    /// `POST /v1/assistance/allow` with an [`crate::AllowRequest`]: the
    /// [`crate::AssistanceStatus`]; 400 with the missing precondition.
    AllowAssistance,
    /// `POST /v1/assistance/revoke`: the [`crate::AssistanceStatus`].
    RevokeAssistance,
    /// `POST /v1/assistance/requests/{request}/answer` with an [`crate::AnswerRequest`].
    AnswerAssistance {
        /// The request.
        request: String,
    },
    /// `POST /v1/assistance/session/end`: ends the remote session.
    EndSession,
    /// `GET /v1/assistance/log`: the record, oldest first ([`crate::AuditEntry`]).
    AssistanceLog,
}

/// Why a request names no endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// No endpoint has this path.
    NotFound,
    /// The path is an endpoint's, the method is not.
    MethodNotAllowed,
}

impl Endpoint {
    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Endpoint::Status
            | Endpoint::Plugins
            | Endpoint::Licence
            | Endpoint::Menu
            | Endpoint::Events
            | Endpoint::Config
            | Endpoint::GetConfig { .. }
            | Endpoint::Entitlement { .. }
            | Endpoint::Assistance
            | Endpoint::AssistanceLog => Method::GET,
            Endpoint::SetConfig { .. } | Endpoint::SetSecret { .. } | Endpoint::SetConfigs => {
                Method::PUT
            }
            Endpoint::UnsetConfig { .. } | Endpoint::DeleteSecret { .. } => Method::DELETE,
            Endpoint::SettingsFile
            | Endpoint::TestConnection
            | Endpoint::ResolveProxy
            | Endpoint::Click { .. }
            | Endpoint::NoticeAction { .. }
            | Endpoint::Command { .. }
            | Endpoint::VerifyLicence
            | Endpoint::InstallLicence
            | Endpoint::AllowAssistance
            | Endpoint::RevokeAssistance
            | Endpoint::AnswerAssistance { .. }
            | Endpoint::EndSession
            | Endpoint::CheckConfig
            | Endpoint::TestFolder => Method::POST,
        }
    }

    /// How long a client waits for the answer: the engine answers at once but for the calls
    /// that wait on something with a limit of its own (a plugin's command: 120 s; the
    /// connection test: five steps of the request time limit, at most 600 s each; storing a
    /// secret: the keyring's unlock prompt, which a person answers). For the event stream,
    /// the limit is for its start.
    pub fn time_limit(&self) -> Duration {
        match self {
            // The bridge starts TeamViewer's daemon, each call within its own time limit.
            Endpoint::Command { .. }
            | Endpoint::AllowAssistance
            | Endpoint::RevokeAssistance
            | Endpoint::AnswerAssistance { .. }
            | Endpoint::EndSession => Duration::from_secs(130),
            Endpoint::TestConnection => Duration::from_secs(5 * 600 + 30),
            Endpoint::SetSecret { .. } | Endpoint::DeleteSecret { .. } => Duration::from_secs(300),
            _ => Duration::from_secs(30),
        }
    }

    /// The path, every variable segment percent-encoded.
    pub fn path(&self) -> String {
        let segments: Vec<&str> = match self {
            Endpoint::Status => vec!["status"],
            Endpoint::Plugins => vec!["plugins"],
            Endpoint::Licence => vec!["licence"],
            Endpoint::Menu => vec!["menu"],
            Endpoint::Events => vec!["events"],
            Endpoint::Config => vec!["config"],
            Endpoint::GetConfig { key }
            | Endpoint::SetConfig { key }
            | Endpoint::UnsetConfig { key } => vec!["config", key],
            Endpoint::SettingsFile => vec!["settings-file"],
            Endpoint::SetSecret { name } | Endpoint::DeleteSecret { name } => {
                vec!["secrets", name]
            }
            Endpoint::TestConnection => vec!["test-connection"],
            Endpoint::ResolveProxy => vec!["proxy", "resolve"],
            Endpoint::Click { plugin, item } => vec!["plugins", plugin, "menu", item, "click"],
            Endpoint::NoticeAction {
                plugin,
                key,
                action,
            } => vec!["plugins", plugin, "notices", key, "actions", action],
            Endpoint::Command { plugin, command } => vec!["plugins", plugin, "commands", command],
            Endpoint::VerifyLicence => vec!["licence", "verify"],
            Endpoint::InstallLicence => vec!["licence", "install"],
            Endpoint::Entitlement { release_date } => vec!["entitlement", release_date],
            Endpoint::SetConfigs => vec!["config"],
            Endpoint::CheckConfig => vec!["config-check"],
            Endpoint::TestFolder => vec!["licence", "folder-test"],
            Endpoint::Assistance => vec!["assistance"],
            Endpoint::AllowAssistance => vec!["assistance", "allow"],
            Endpoint::RevokeAssistance => vec!["assistance", "revoke"],
            Endpoint::AnswerAssistance { request } => {
                vec!["assistance", "requests", request, "answer"]
            }
            Endpoint::EndSession => vec!["assistance", "session", "end"],
            Endpoint::AssistanceLog => vec!["assistance", "log"],
        };
        let mut path = "/v1".to_string();
        for segment in segments {
            path.push('/');
            path.extend(utf8_percent_encode(segment, SEGMENT));
        }
        path
    }

    /// The endpoint a request names: its method and its path (without the query).
    pub fn parse(method: &Method, path: &str) -> Result<Endpoint, Unmatched> {
        let segments: Option<Vec<String>> = path
            .trim_start_matches('/')
            .split('/')
            .map(|segment| {
                percent_decode_str(segment)
                    .decode_utf8()
                    .ok()
                    .map(|decoded| decoded.into_owned())
            })
            .collect();
        let Some(segments) = segments else {
            return Err(Unmatched::NotFound);
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let Some(endpoint) = route(method, &segments) {
            return Ok(endpoint);
        }
        let other_method = [Method::GET, Method::POST, Method::PUT, Method::DELETE]
            .iter()
            .any(|other| other != method && route(other, &segments).is_some());
        Err(if other_method {
            Unmatched::MethodNotAllowed
        } else {
            Unmatched::NotFound
        })
    }
}

fn route(method: &Method, segments: &[&str]) -> Option<Endpoint> {
    let owned = |text: &str| text.to_string();
    let endpoint = match (method, segments) {
        (&Method::GET, ["v1", "status"]) => Endpoint::Status,
        (&Method::GET, ["v1", "plugins"]) => Endpoint::Plugins,
        (&Method::GET, ["v1", "licence"]) => Endpoint::Licence,
        (&Method::GET, ["v1", "menu"]) => Endpoint::Menu,
        (&Method::GET, ["v1", "events"]) => Endpoint::Events,
        (&Method::GET, ["v1", "config"]) => Endpoint::Config,
        (&Method::GET, ["v1", "config", key]) => Endpoint::GetConfig { key: owned(key) },
        (&Method::PUT, ["v1", "config", key]) => Endpoint::SetConfig { key: owned(key) },
        (&Method::DELETE, ["v1", "config", key]) => Endpoint::UnsetConfig { key: owned(key) },
        (&Method::POST, ["v1", "settings-file"]) => Endpoint::SettingsFile,
        (&Method::PUT, ["v1", "secrets", name]) => Endpoint::SetSecret { name: owned(name) },
        (&Method::DELETE, ["v1", "secrets", name]) => Endpoint::DeleteSecret { name: owned(name) },
        (&Method::POST, ["v1", "test-connection"]) => Endpoint::TestConnection,
        (&Method::POST, ["v1", "proxy", "resolve"]) => Endpoint::ResolveProxy,
        (&Method::POST, ["v1", "plugins", plugin, "menu", item, "click"]) => Endpoint::Click {
            plugin: owned(plugin),
            item: owned(item),
        },
        (&Method::POST, ["v1", "plugins", plugin, "notices", key, "actions", action]) => {
            Endpoint::NoticeAction {
                plugin: owned(plugin),
                key: owned(key),
                action: owned(action),
            }
        }
        (&Method::POST, ["v1", "plugins", plugin, "commands", command]) => Endpoint::Command {
            plugin: owned(plugin),
            command: owned(command),
        },
        (&Method::POST, ["v1", "licence", "verify"]) => Endpoint::VerifyLicence,
        (&Method::POST, ["v1", "licence", "install"]) => Endpoint::InstallLicence,
        (&Method::GET, ["v1", "entitlement", release_date]) => Endpoint::Entitlement {
            release_date: owned(release_date),
        },
        (&Method::PUT, ["v1", "config"]) => Endpoint::SetConfigs,
        (&Method::POST, ["v1", "config-check"]) => Endpoint::CheckConfig,
        (&Method::POST, ["v1", "licence", "folder-test"]) => Endpoint::TestFolder,
        (&Method::GET, ["v1", "assistance"]) => Endpoint::Assistance,
        (&Method::POST, ["v1", "assistance", "allow"]) => Endpoint::AllowAssistance,
        (&Method::POST, ["v1", "assistance", "revoke"]) => Endpoint::RevokeAssistance,
        (&Method::POST, ["v1", "assistance", "requests", request, "answer"]) => {
            Endpoint::AnswerAssistance {
                request: owned(request),
            }
        }
        (&Method::POST, ["v1", "assistance", "session", "end"]) => Endpoint::EndSession,
        (&Method::GET, ["v1", "assistance", "log"]) => Endpoint::AssistanceLog,
        _ => return None,
    };
    Some(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(endpoint: Endpoint, path: &str) {
        assert_eq!(endpoint.path(), path);
        assert_eq!(Endpoint::parse(&endpoint.method(), path), Ok(endpoint));
    }

    #[test]
    fn paths_are_built_and_parsed_back_the_same() {
        check(Endpoint::Status, "/v1/status");
        check(
            Endpoint::Click {
                plugin: "licence-updater".into(),
                item: "check-now".into(),
            },
            "/v1/plugins/licence-updater/menu/check-now/click",
        );
        check(
            Endpoint::NoticeAction {
                plugin: "licence-updater".into(),
                key: "install-failed:/mnt/fls share/Dropped License".into(),
                action: "save".into(),
            },
            "/v1/plugins/licence-updater/notices/install-failed%3A%2Fmnt%2Ffls%20share%2FDropped%20License/actions/save",
        );
        check(
            Endpoint::SetConfig {
                key: "licence.local_folder".into(),
            },
            "/v1/config/licence.local_folder",
        );
        check(
            Endpoint::Entitlement {
                release_date: "2027-01-31".into(),
            },
            "/v1/entitlement/2027-01-31",
        );
        check(
            Endpoint::Command {
                plugin: "a/b".into(),
                command: "?#%".into(),
            },
            "/v1/plugins/a%2Fb/commands/%3F%23%25",
        );
        check(Endpoint::Assistance, "/v1/assistance");
        check(Endpoint::SetConfigs, "/v1/config");
        check(Endpoint::CheckConfig, "/v1/config-check");
        check(Endpoint::TestFolder, "/v1/licence/folder-test");
        check(Endpoint::AllowAssistance, "/v1/assistance/allow");
        check(
            Endpoint::AnswerAssistance {
                request: "r/1".into(),
            },
            "/v1/assistance/requests/r%2F1/answer",
        );
        check(Endpoint::EndSession, "/v1/assistance/session/end");
        check(Endpoint::AssistanceLog, "/v1/assistance/log");
    }

    #[test]
    fn unknown_paths_and_wrong_methods_are_told_apart() {
        assert_eq!(
            Endpoint::parse(&Method::GET, "/v1/nothing"),
            Err(Unmatched::NotFound)
        );
        assert_eq!(
            Endpoint::parse(&Method::DELETE, "/v1/status"),
            Err(Unmatched::MethodNotAllowed)
        );
        assert_eq!(
            Endpoint::parse(&Method::POST, "/v1/config/enabled"),
            Err(Unmatched::MethodNotAllowed)
        );
        assert_eq!(
            Endpoint::parse(&Method::GET, "/v1/plugins/%FF/menu/x/click"),
            Err(Unmatched::NotFound)
        );
    }
}
