//! The one client of the local API, for the tray, the command line and the windows.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

use crate::{
    AllowRequest, Answer, AnswerRequest, ApiEvent, AssistanceStatus, AuditEntry, CommandOutcome,
    CommandRequest, ConfigChanges, ConfigCheck, ConfigView, Endpoint, Entitlement, ErrorAnswer,
    FolderTest, Installed, LicenceCheck, LicenceSummary, LicenceText, PluginInfo, ProxyResolution,
    SettingValue, Status, TestReport, Value,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket: the engine is not running.
    #[error("the Remote Service service is not running: nothing answers on {socket}")]
    NotRunning {
        /// The socket.
        socket: PathBuf,
    },
    /// The engine answered with an error; the message is the engine's, in words for the
    /// user.
    #[error("{message}")]
    Answer {
        /// The HTTP status.
        status: StatusCode,
        /// The engine's message.
        message: String,
    },
    /// The socket, its folder or the process answering there is not this user's or
    /// root's: nothing is sent.
    #[error("refused to use the Remote Service socket {socket}: {reason}; someone else may be posing as the engine")]
    Untrusted {
        /// The socket.
        socket: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The engine did not answer in time.
    #[error("the Remote Service engine on {socket} did not answer within {} s", limit.as_secs())]
    TimedOut {
        /// The socket.
        socket: PathBuf,
        /// The time limit.
        limit: Duration,
    },
    /// The connection broke or the answer was not understood.
    #[error("local API at {socket}: {message}")]
    Protocol {
        /// The socket.
        socket: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A client of the engine at one socket. Blocking: each call runs on the client's own
/// small runtime, so a front-end needs no runtime of its own. May be shared between
/// threads.
pub struct Client {
    socket: PathBuf,
    runtime: Runtime,
}

impl Client {
    /// A client for the engine listening on `socket`.
    pub fn new(socket: &Path) -> io::Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Client {
            socket: socket.to_path_buf(),
            runtime,
        })
    }

    /// A client of the engine that answers on `socket`, or `None` when none does; an
    /// error when something answers there that is not to be trusted (see
    /// [`crate::distrust`]), or answers wrongly.
    pub fn running(socket: &Path) -> Result<Option<Client>, ClientError> {
        let client = Client::new(socket).map_err(|error| ClientError::Protocol {
            socket: socket.to_path_buf(),
            message: error.to_string(),
        })?;
        match client.status() {
            Ok(_) => Ok(Some(client)),
            Err(ClientError::NotRunning { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The status now.
    pub fn status(&self) -> Result<Status, ClientError> {
        self.call(Endpoint::Status, None::<&()>)
    }

    /// The plugins and their states.
    pub fn plugins(&self) -> Result<Vec<PluginInfo>, ClientError> {
        self.call(Endpoint::Plugins, None::<&()>)
    }

    /// The licence in force (an [`ClientError::Answer`] with 404 when there is none).
    pub fn licence(&self) -> Result<LicenceSummary, ClientError> {
        self.call(Endpoint::Licence, None::<&()>)
    }

    /// Clicks a plugin's menu item.
    pub fn click(&self, plugin: &str, item: &str) -> Result<(), ClientError> {
        let endpoint = Endpoint::Click {
            plugin: plugin.to_string(),
            item: item.to_string(),
        };
        self.call(endpoint, None::<&()>)
    }

    /// Tells a plugin the user clicked the button `action` of its notice `key`.
    pub fn answer_notice(&self, plugin: &str, key: &str, action: &str) -> Result<(), ClientError> {
        let endpoint = Endpoint::NoticeAction {
            plugin: plugin.to_string(),
            key: key.to_string(),
            action: action.to_string(),
        };
        self.call(endpoint, None::<&()>)
    }

    /// Runs a plugin's command and waits for the plugin's answer.
    pub fn run_command(
        &self,
        plugin: &str,
        command: &str,
        argument: &str,
    ) -> Result<CommandOutcome, ClientError> {
        let endpoint = Endpoint::Command {
            plugin: plugin.to_string(),
            command: command.to_string(),
        };
        let request = CommandRequest {
            argument: argument.to_string(),
        };
        self.call(endpoint, Some(&request))
    }

    /// The settings by key and which secrets are set.
    pub fn config(&self) -> Result<ConfigView, ClientError> {
        self.call(Endpoint::Config, None::<&()>)
    }

    /// One setting's value (`None`: not set); the error names an unknown key.
    pub fn get_config(&self, key: &str) -> Result<Option<String>, ClientError> {
        let endpoint = Endpoint::GetConfig {
            key: key.to_string(),
        };
        self.call::<SettingValue>(endpoint, None::<&()>)
            .map(|setting| setting.value)
    }

    /// Checks, saves and applies a setting; the error says why it was refused.
    pub fn set_config(&self, key: &str, value: &str) -> Result<ConfigView, ClientError> {
        let endpoint = Endpoint::SetConfig {
            key: key.to_string(),
        };
        let value = Value {
            value: value.to_string(),
        };
        self.call(endpoint, Some(&value))
    }

    /// Puts a setting back to its default.
    pub fn unset_config(&self, key: &str) -> Result<ConfigView, ClientError> {
        let endpoint = Endpoint::UnsetConfig {
            key: key.to_string(),
        };
        self.call(endpoint, None::<&()>)
    }

    /// Makes sure the settings file exists (to open it in an editor).
    pub fn settings_file(&self) -> Result<ConfigView, ClientError> {
        self.call(Endpoint::SettingsFile, None::<&()>)
    }

    /// Stores a secret in the engine's keyring.
    pub fn set_secret(&self, name: &str, value: &str) -> Result<(), ClientError> {
        let endpoint = Endpoint::SetSecret {
            name: name.to_string(),
        };
        let value = Value {
            value: value.to_string(),
        };
        self.call(endpoint, Some(&value))
    }

    /// Removes a secret.
    pub fn delete_secret(&self, name: &str) -> Result<(), ClientError> {
        let endpoint = Endpoint::DeleteSecret {
            name: name.to_string(),
        };
        self.call(endpoint, None::<&()>)
    }

    /// Tests the connection to the back office step by step with the engine's settings.
    pub fn test_connection(&self) -> Result<TestReport, ClientError> {
        self.call(Endpoint::TestConnection, None::<&()>)
    }

    /// What the engine would use to reach `url`: the proxy candidates in order.
    pub fn resolve_proxy(&self, url: &str) -> Result<ProxyResolution, ClientError> {
        let url = Value {
            value: url.to_string(),
        };
        self.call(Endpoint::ResolveProxy, Some(&url))
    }

    /// Verifies a licence file's text with the engine's trusted keys.
    pub fn verify_licence(&self, text: &str) -> Result<LicenceCheck, ClientError> {
        let text = LicenceText {
            text: text.to_string(),
        };
        self.call(Endpoint::VerifyLicence, Some(&text))
    }

    /// Verifies a licence file's text and installs it into the licence folder.
    pub fn install_licence(&self, text: &str) -> Result<Installed, ClientError> {
        let text = LicenceText {
            text: text.to_string(),
        };
        self.call(Endpoint::InstallLicence, Some(&text))
    }

    /// Whether the licence in force entitles to an update released on `release_date`
    /// (`YYYY-MM-DD`).
    pub fn entitlement(&self, release_date: &str) -> Result<Entitlement, ClientError> {
        let endpoint = Endpoint::Entitlement {
            release_date: release_date.to_string(),
        };
        self.call(endpoint, None::<&()>)
    }

    /// Checks settings changes together without saving them: the reason by key.
    pub fn check_configs(
        &self,
        settings: &std::collections::BTreeMap<String, Option<String>>,
    ) -> Result<ConfigCheck, ClientError> {
        let changes = ConfigChanges {
            settings: settings.clone(),
        };
        self.call(Endpoint::CheckConfig, Some(&changes))
    }

    /// Saves settings changes together (null: back to the default), or none of them.
    pub fn set_configs(
        &self,
        settings: &std::collections::BTreeMap<String, Option<String>>,
    ) -> Result<ConfigView, ClientError> {
        let changes = ConfigChanges {
            settings: settings.clone(),
        };
        self.call(Endpoint::SetConfigs, Some(&changes))
    }

    /// Whether a licence can be written into `folder` (there, mounted, writable).
    pub fn test_folder(&self, folder: &str) -> Result<FolderTest, ClientError> {
        let folder = Value {
            value: folder.to_string(),
        };
        self.call(Endpoint::TestFolder, Some(&folder))
    }

    /// Remote assistance now (404 when the feature is not there).
    pub fn assistance(&self) -> Result<AssistanceStatus, ClientError> {
        self.call(Endpoint::Assistance, None::<&()>)
    }

    /// Allows remote assistance for `hours` (the setting's default when `None`); the error
    /// names the missing precondition.
    pub fn allow_assistance(&self, hours: Option<u32>) -> Result<AssistanceStatus, ClientError> {
        self.call(Endpoint::AllowAssistance, Some(&AllowRequest { hours }))
    }

    /// Ends the allowance now.
    pub fn revoke_assistance(&self) -> Result<AssistanceStatus, ClientError> {
        self.call(Endpoint::RevokeAssistance, None::<&()>)
    }

    /// Answers a help-desk request.
    pub fn answer_assistance(
        &self,
        request: &str,
        answer: Answer,
    ) -> Result<AssistanceStatus, ClientError> {
        let endpoint = Endpoint::AnswerAssistance {
            request: request.to_string(),
        };
        self.call(endpoint, Some(&AnswerRequest { answer }))
    }

    /// Ends the remote session.
    pub fn end_session(&self) -> Result<AssistanceStatus, ClientError> {
        self.call(Endpoint::EndSession, None::<&()>)
    }

    /// The record of remote assistance, oldest first.
    pub fn assistance_log(&self) -> Result<Vec<AuditEntry>, ClientError> {
        self.call(Endpoint::AssistanceLog, None::<&()>)
    }

    /// Follows the event stream; the first event is the status now. The stream has no
    /// time limit; its start has the usual one.
    pub fn events(&self) -> Result<Events<'_>, ClientError> {
        let body = self.runtime.block_on(self.within(
            Endpoint::Events.time_limit(),
            self.request(Endpoint::Events, None),
        ))?;
        Ok(Events {
            client: self,
            body,
            buffer: Vec::new(),
        })
    }

    /// Calls `endpoint` with `body` as JSON and reads the JSON answer as `T` (an empty
    /// answer reads as `null`, which is `()`).
    fn call<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = match body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|error| self.protocol(error))?),
            None => None,
        };
        let limit = endpoint.time_limit();
        let bytes = self.runtime.block_on(self.within(limit, async {
            let body = self.request(endpoint, body).await?;
            body.collect()
                .await
                .map(|collected| collected.to_bytes())
                .map_err(|error| self.protocol(error))
        }))?;
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"null")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes)
            .map_err(|error| self.protocol(format!("the answer is not the expected JSON: {error}")))
    }

    /// `work`, or [`ClientError::TimedOut`] after `limit`.
    async fn within<T>(
        &self,
        limit: Duration,
        work: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(ClientError::TimedOut {
                socket: self.socket.clone(),
                limit,
            })
        })
    }

    async fn request(
        &self,
        endpoint: Endpoint,
        body: Option<Vec<u8>>,
    ) -> Result<Incoming, ClientError> {
        let untrusted = |reason: String| ClientError::Untrusted {
            socket: self.socket.clone(),
            reason,
        };
        #[cfg(unix)]
        if let Some(reason) = crate::socket::distrust(&self.socket) {
            return Err(untrusted(reason));
        }
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|_| ClientError::NotRunning {
                    socket: self.socket.clone(),
                })?;
        // The process that answers must be this user's, root's or the system service's
        // too, whatever the file system says: checked before anything is sent.
        #[cfg(unix)]
        {
            let peer = stream
                .peer_cred()
                .map_err(|error| untrusted(format!("its peer cannot be identified: {error}")))?;
            if !crate::socket::trusted_peer(peer.uid(), &self.socket) {
                return Err(untrusted(format!(
                    "the process answering there runs as user id {}",
                    peer.uid()
                )));
            }
        }
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| self.protocol(error))?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(endpoint.method())
            .uri(endpoint.path())
            .header("host", "localhost");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|error| self.protocol(error))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| self.protocol(error))?;
        let status = response.status();
        let body = response.into_body();
        if status.is_success() {
            return Ok(body);
        }
        let bytes = body
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<ErrorAnswer>(&bytes)
            .map(|answer| answer.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
        Err(ClientError::Answer { status, message })
    }

    fn protocol(&self, message: impl ToString) -> ClientError {
        ClientError::Protocol {
            socket: self.socket.clone(),
            message: message.to_string(),
        }
    }
}

/// The event stream, as a blocking iterator; it ends when the engine stops.
pub struct Events<'a> {
    client: &'a Client,
    body: Incoming,
    buffer: Vec<u8>,
}

impl Iterator for Events<'_> {
    type Item = Result<ApiEvent, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let message: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&message);
                let data: String = text
                    .lines()
                    .filter_map(|line| line.strip_prefix("data: "))
                    .collect::<Vec<_>>()
                    .join("\n");
                if data.is_empty() {
                    continue;
                }
                return Some(serde_json::from_str(&data).map_err(|error| {
                    self.client
                        .protocol(format!("an event is not the expected JSON: {error}"))
                }));
            }
            let frame = self.client.runtime.block_on(self.body.frame())?;
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Err(error) => return Some(Err(self.client.protocol(error))),
            }
        }
    }
}
