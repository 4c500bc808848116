//! The engine as a service: it runs on its own thread, answers the local API's requests
//! and tells every subscriber what changed. The thread calls plugins (each with its time
//! limit); the API's own tasks never do.

use std::thread::{self, JoinHandle};

use crossbeam_channel::{never, select, unbounded, Receiver, Sender};
use remote_service_api::{
    Answer, ApiEvent, AssistanceStatus, AuditEntry, CommandOutcome, ConfigView, Entitlement,
    Installed, LicenceCheck, Notice, ProxyResolution, SettingValue, Status, Urgency,
};
use remote_service_plugin_api::Urgency as PluginUrgency;
use tokio::sync::{broadcast, oneshot, watch};

use std::time::Duration;

use crate::connection::{CodeState, ConnectionConfig, ProxyPasswordState, VerificationCode};
use crate::engine::{summary, Engine, EngineEvent, SecretValue};
use crate::proxy::{Detector, ProxyPassword, Purpose};
use crate::secrets::{Secret, SecretStore};

/// A reply the engine thread sends once.
type Reply<T> = oneshot::Sender<T>;

/// A request to the engine thread.
enum Request {
    Status(Reply<Status>),
    Click {
        plugin: String,
        item: String,
        reply: Reply<bool>,
    },
    NoticeAction {
        plugin: String,
        notice_key: String,
        action_id: String,
        reply: Reply<bool>,
    },
    Command {
        plugin: String,
        command: String,
        argument: String,
        reply: Reply<CommandOutcome>,
    },
    Config(Reply<ConfigView>),
    GetConfig {
        key: String,
        reply: Reply<Result<SettingValue, String>>,
    },
    SettingsFile(Reply<Result<ConfigView, String>>),
    SetConfig {
        key: String,
        value: Option<String>,
        reply: Reply<Result<ConfigView, String>>,
    },
    SetConfigs {
        changes: Vec<(String, Option<String>)>,
        reply: Reply<Result<ConfigView, String>>,
    },
    CheckConfigs {
        changes: Vec<(String, Option<String>)>,
        reply: Reply<std::collections::BTreeMap<String, String>>,
    },
    /// The keyring answered (a thread of its own asked it): the code, and which secrets are
    /// set.
    KeyringRead {
        code: CodeState,
        proxy_password: ProxyPasswordState,
        known: Vec<(Secret, Result<bool, String>)>,
    },
    /// A secret was stored (`set`) or removed, and its value now.
    SecretChanged {
        secret: Secret,
        set: bool,
        value: SecretValue,
    },
    ConnectionConfig(Reply<ConnectionConfig>),
    VerifyLicence {
        text: String,
        reply: Reply<LicenceCheck>,
    },
    InstallLicence {
        text: String,
        reply: Reply<Result<Installed, String>>,
    },
    Entitlement {
        release_date: String,
        reply: Reply<Result<Entitlement, String>>,
    },
    AllowAssistance {
        hours: Option<u32>,
        reply: Reply<Result<AssistanceStatus, String>>,
    },
    RevokeAssistance(Reply<Result<AssistanceStatus, String>>),
    AnswerAssistance {
        request: String,
        answer: Answer,
        reply: Reply<Result<AssistanceStatus, String>>,
    },
    EndSession(Reply<Result<AssistanceStatus, String>>),
    AssistanceLog(Reply<Result<Vec<AuditEntry>, String>>),
}

/// What a request got when the engine stopped before it answered.
pub const STOPPING: &str = "the engine is stopping";

/// How the local API talks to the engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    requests: Sender<Request>,
    events: broadcast::Sender<ApiEvent>,
    secrets: SecretStore,
    /// True once the keyring thread has told the engine what it holds.
    keyring_read: watch::Receiver<bool>,
    /// Asks the proxy detector plugin.
    detector: Detector,
}

/// How long `config show` waits for the keyring's first answer before it says the state
/// of the secrets is not known yet.
const FIRST_READ_LIMIT: Duration = Duration::from_secs(5);

/// How long a change of a secret may wait for the keyring (an unlock prompt waits for the
/// user): a little less than the clients wait for the answer (`Endpoint::time_limit`).
const KEYRING_LIMIT: Duration = Duration::from_secs(290);

/// How soon a keyring that could not be read is asked again (it may be unlocked by then);
/// the wait doubles up to [`KEYRING_RETRY_CAP`], so that a dismissed unlock prompt does
/// not come back every half minute.
const KEYRING_RETRY: Duration = Duration::from_secs(30);
const KEYRING_RETRY_CAP: Duration = Duration::from_secs(30 * 60);

impl EngineHandle {
    /// Sends a request made with a reply channel and waits for the answer; `None` when the
    /// engine has stopped.
    async fn ask<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(request(reply)).ok()?;
        answer.await.ok()
    }

    /// Like [`EngineHandle::ask`] for requests whose answer may be a refusal.
    async fn change<T>(
        &self,
        request: impl FnOnce(Reply<Result<T, String>>) -> Request,
    ) -> Result<T, String> {
        self.ask(request)
            .await
            .unwrap_or_else(|| Err(STOPPING.to_string()))
    }

    /// The status now.
    pub async fn status(&self) -> Option<Status> {
        self.ask(Request::Status).await
    }

    /// Clicks a plugin's menu item; false when the plugin does not run or failed on it.
    pub async fn click(&self, plugin: &str, item: &str) -> bool {
        let (plugin, item) = (plugin.to_string(), item.to_string());
        self.ask(|reply| Request::Click {
            plugin,
            item,
            reply,
        })
        .await
        .unwrap_or(false)
    }

    /// Tells a plugin the user clicked a button of its notice; false when the plugin does
    /// not run or failed on it.
    pub async fn notice_action(&self, plugin: &str, notice_key: &str, action_id: &str) -> bool {
        let (plugin, notice_key, action_id) = (
            plugin.to_string(),
            notice_key.to_string(),
            action_id.to_string(),
        );
        self.ask(|reply| Request::NoticeAction {
            plugin,
            notice_key,
            action_id,
            reply,
        })
        .await
        .unwrap_or(false)
    }

    /// Runs a plugin's command: the outcome once the plugin answered; `None` when the
    /// plugin stopped (or the engine did) before it answered.
    pub async fn command(
        &self,
        plugin: &str,
        command: &str,
        argument: &str,
    ) -> Option<CommandOutcome> {
        let (plugin, command, argument) = (
            plugin.to_string(),
            command.to_string(),
            argument.to_string(),
        );
        self.ask(|reply| Request::Command {
            plugin,
            command,
            argument,
            reply,
        })
        .await
    }

    /// The settings by key and which secrets are set (once the keyring has answered, or
    /// [`FIRST_READ_LIMIT`] has passed).
    pub async fn config(&self) -> Option<ConfigView> {
        let mut read = self.keyring_read.clone();
        let _ = tokio::time::timeout(FIRST_READ_LIMIT, read.wait_for(|read| *read)).await;
        self.ask(Request::Config).await
    }

    /// One setting's value; the error names an unknown key or a secret.
    pub async fn get_config(&self, key: &str) -> Result<SettingValue, String> {
        let key = key.to_string();
        self.change(|reply| Request::GetConfig { key, reply }).await
    }

    /// Makes sure the settings file exists.
    pub async fn settings_file(&self) -> Result<ConfigView, String> {
        self.change(Request::SettingsFile).await
    }

    /// Sets (`Some`) or resets (`None`) a setting; the error says why it was refused.
    pub async fn set_config(&self, key: &str, value: Option<String>) -> Result<ConfigView, String> {
        let key = key.to_string();
        self.change(|reply| Request::SetConfig { key, value, reply })
            .await
    }

    /// Sets settings together, or none of them; the error says why.
    pub async fn set_configs(
        &self,
        changes: Vec<(String, Option<String>)>,
    ) -> Result<ConfigView, String> {
        self.change(|reply| Request::SetConfigs { changes, reply })
            .await
    }

    /// What is wrong with each change, without saving.
    pub async fn check_configs(
        &self,
        changes: Vec<(String, Option<String>)>,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        self.ask(|reply| Request::CheckConfigs { changes, reply })
            .await
    }

    /// Whether a licence can be written into `folder`, on a blocking thread and for at
    /// most 10 s (a network folder may hang).
    pub async fn test_folder(&self, folder: String) -> remote_service_api::FolderTest {
        let path = std::path::PathBuf::from(&folder);
        let tested = tokio::task::spawn_blocking(move || {
            crate::deadline::within("licence folder test", Duration::from_secs(10), move || {
                crate::mounts::test_licence_folder(&path)
            })
        })
        .await
        .ok()
        .flatten();
        let (ok, detail) = tested.unwrap_or_else(|| {
            (
                false,
                format!("{folder} did not answer within 10 s (a network folder that hangs?)"),
            )
        });
        remote_service_api::FolderTest { ok, detail }
    }

    /// Stores (`Some`) or removes (`None`) a secret, on a thread of its own: the keyring
    /// may wait for the user to unlock it, and the engine answers every other request
    /// meanwhile. The engine hears of the change when the keyring has made it, even after
    /// this call gave up waiting.
    pub async fn set_secret(&self, key: &str, value: Option<String>) -> Result<(), String> {
        let secret = Secret::from_key(key).ok_or_else(|| {
            format!(
                "unknown secret {key:?}; the secrets are: {}",
                crate::config::SECRET_KEYS.join(", ")
            )
        })?;
        let (secrets, requests) = (self.secrets.clone(), self.requests.clone());
        let work = tokio::task::spawn_blocking(move || {
            let changed = match (secret, &value) {
                (Secret::VerificationCode, Some(code)) => {
                    SecretValue::Code(CodeState::Set(VerificationCode::new(code.clone())))
                }
                (Secret::VerificationCode, None) => SecretValue::Code(CodeState::NotSet),
                (Secret::ProxyPassword, Some(password)) => SecretValue::ProxyPassword(
                    ProxyPasswordState::Set(ProxyPassword::new(password.clone())),
                ),
                (Secret::ProxyPassword, None) => {
                    SecretValue::ProxyPassword(ProxyPasswordState::NotSet)
                }
            };
            let set = value.is_some();
            match value {
                Some(value) => secrets.set(secret, &value),
                None => secrets.delete(secret),
            }
            .map_err(|error| error.to_string())?;
            let _ = requests.send(Request::SecretChanged {
                secret,
                set,
                value: changed,
            });
            Ok(())
        });
        match tokio::time::timeout(KEYRING_LIMIT, work).await {
            Ok(Ok(done)) => done,
            Ok(Err(failed)) => Err(format!("the keyring call failed: {failed}")),
            Err(_) => Err(format!(
                "the keyring did not answer within {} s (is it waiting for its password?); {key} is changed if it answers later",
                KEYRING_LIMIT.as_secs()
            )),
        }
    }

    /// What the connection uses now (for `test-connection`).
    pub async fn connection_config(&self) -> Option<ConnectionConfig> {
        self.ask(Request::ConnectionConfig).await
    }

    /// The proxy detector, for the connection test.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// What a connection to `url` would use, with the engine's settings and detector.
    pub async fn resolve_proxy(&self, url: &str) -> Result<ProxyResolution, String> {
        let config = self
            .connection_config()
            .await
            .ok_or("the engine is stopping")?;
        let resolution = config
            .proxy
            .resolve(Purpose::Backoffice, url, Some(&self.detector))
            .await?;
        Ok(ProxyResolution {
            url: url.to_string(),
            mode: resolution.mode.as_str().to_string(),
            source: resolution.source.clone(),
            authentication: resolution.authentication().to_string(),
            candidates: resolution.candidates,
        })
    }

    /// Verifies a licence file's text.
    pub async fn verify_licence(&self, text: String) -> Option<LicenceCheck> {
        self.ask(|reply| Request::VerifyLicence { text, reply })
            .await
    }

    /// Installs a licence file's text.
    pub async fn install_licence(&self, text: String) -> Result<Installed, String> {
        self.change(|reply| Request::InstallLicence { text, reply })
            .await
    }

    /// Whether the licence in force covers a release.
    pub async fn entitlement(&self, release_date: &str) -> Result<Entitlement, String> {
        let release_date = release_date.to_string();
        self.change(|reply| Request::Entitlement {
            release_date,
            reply,
        })
        .await
    }

    /// Allows remote assistance; the error names the missing precondition.
    pub async fn allow_assistance(&self, hours: Option<u32>) -> Result<AssistanceStatus, String> {
        self.change(|reply| Request::AllowAssistance { hours, reply })
            .await
    }

    /// Ends the allowance.
    pub async fn revoke_assistance(&self) -> Result<AssistanceStatus, String> {
        self.change(Request::RevokeAssistance).await
    }

    /// Answers a help-desk request.
    pub async fn answer_assistance(
        &self,
        request: &str,
        answer: Answer,
    ) -> Result<AssistanceStatus, String> {
        let request = request.to_string();
        self.change(|reply| Request::AnswerAssistance {
            request,
            answer,
            reply,
        })
        .await
    }

    /// Ends the remote session.
    pub async fn end_session(&self) -> Result<AssistanceStatus, String> {
        self.change(Request::EndSession).await
    }

    /// The record of remote assistance.
    pub async fn assistance_log(&self) -> Result<Vec<AuditEntry>, String> {
        self.change(Request::AssistanceLog).await
    }

    /// Everything that happens from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ApiEvent> {
        self.events.subscribe()
    }
}

/// The engine thread; [`EngineService::stop`] (or dropping it) ends it.
pub struct EngineService {
    handle: EngineHandle,
    stop: Sender<()>,
    /// Dropped to end the keyring thread's retries.
    keyring_stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EngineService {
    /// Runs `engine` on its own thread.
    pub fn start(engine: Engine) -> std::io::Result<EngineService> {
        let (requests, request_receiver) = unbounded();
        let (events, _) = broadcast::channel(256);
        let (stop, stopped) = unbounded();
        let (keyring_stop, keyring_stopped) = unbounded::<()>();
        let secrets = engine.secrets().clone();
        let detector = engine.detector();
        let thread_events = events.clone();
        let thread = thread::Builder::new()
            .name("engine".into())
            .spawn(move || run(engine, &request_receiver, &thread_events, &stopped))?;
        let keyring_requests = requests.clone();
        let keyring_secrets = secrets.clone();
        let (told, keyring_read) = watch::channel(false);
        thread::Builder::new()
            .name("keyring".into())
            .spawn(move || {
                read_code(&keyring_secrets, &keyring_requests, &keyring_stopped, &told)
            })?;
        Ok(EngineService {
            handle: EngineHandle {
                requests,
                events,
                secrets,
                keyring_read,
                detector,
            },
            stop,
            keyring_stop: Some(keyring_stop),
            thread: Some(thread),
        })
    }

    /// The handle the local API uses.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops the plugins and the engine thread.
    pub fn stop(&mut self) {
        self.keyring_stop = None;
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EngineService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The keyring thread: reads the verification code for the engine, and again after
/// [`KEYRING_RETRY`] (doubling) while it cannot be read (a locked keyring unlocked later),
/// until the engine stops. A keyring that never answers holds this thread, not the engine.
fn read_code(
    secrets: &SecretStore,
    requests: &Sender<Request>,
    stopped: &Receiver<()>,
    told: &watch::Sender<bool>,
) {
    let mut wait = KEYRING_RETRY;
    loop {
        let code = CodeState::from(
            secrets
                .get(Secret::VerificationCode)
                .map(|code| code.map(|code| VerificationCode::new(code.to_string())))
                .map_err(|error| error.to_string()),
        );
        let proxy_password = ProxyPasswordState::from(
            secrets
                .get(Secret::ProxyPassword)
                .map(|password| password.map(|password| ProxyPassword::new(password.to_string())))
                .map_err(|error| error.to_string()),
        );
        let again = matches!(code, CodeState::Unreadable(_))
            || matches!(proxy_password, ProxyPasswordState::Unreadable(_));
        let known = Secret::ALL
            .iter()
            .map(|secret| {
                let set = match (secret, &code) {
                    (Secret::VerificationCode, CodeState::Set(_)) => Ok(true),
                    (Secret::VerificationCode, CodeState::NotSet) => Ok(false),
                    (Secret::ProxyPassword, _) => match &proxy_password {
                        ProxyPasswordState::Set(_) => Ok(true),
                        ProxyPasswordState::NotSet => Ok(false),
                        ProxyPasswordState::Unreadable(problem) => Err(problem.clone()),
                        ProxyPasswordState::Reading => Ok(false),
                    },
                    _ => secrets.is_set(*secret).map_err(|error| error.to_string()),
                };
                (*secret, set)
            })
            .collect();
        let sent = requests.send(Request::KeyringRead {
            code,
            proxy_password,
            known,
        });
        // After the request: one that waits for this comes after it.
        told.send_replace(true);
        if sent.is_err() || !again {
            return;
        }
        if let Err(crossbeam_channel::RecvTimeoutError::Disconnected) = stopped.recv_timeout(wait) {
            return;
        }
        wait = (wait * 2).min(KEYRING_RETRY_CAP);
    }
}

fn run(
    mut engine: Engine,
    requests: &Receiver<Request>,
    events: &broadcast::Sender<ApiEvent>,
    stopped: &Receiver<()>,
) {
    let mut last_status = status_of(&engine);
    let (mut folder_gone, mut messages_gone) = (false, false);
    loop {
        // Taken each time round: a new licence folder setting replaces the watcher.
        let (folder_changes, messages, connection, detections) = engine.inputs();
        let folder_changes = if folder_gone { never() } else { folder_changes };
        let messages = if messages_gone { never() } else { messages };
        // Remote assistance ends by itself at its time (the allowance, a request's time to
        // answer): the wall clock, read again each time round.
        let due = match engine.assistance_deadline() {
            Some(deadline) => {
                let wait = deadline - time::OffsetDateTime::now_utc();
                crossbeam_channel::at(
                    std::time::Instant::now() + Duration::try_from(wait).unwrap_or_default(),
                )
            }
            None => never(),
        };
        let plugin_changes = engine.plugin_changes();
        let happened = select! {
            recv(stopped) -> _ => break,
            recv(plugin_changes) -> change => match change {
                Ok(()) => engine.plugin_folder_changed(),
                Err(_) => Vec::new(),
            },
            recv(due) -> _ => {
                engine.assistance_tick();
                Vec::new()
            }
            recv(folder_changes) -> change => match change {
                Ok(read) => engine.licence_folder_read(read),
                Err(_) => { folder_gone = true; Vec::new() }
            },
            recv(messages) -> message => match message {
                Ok(message) => engine.plugin_message(message),
                Err(_) => { messages_gone = true; Vec::new() }
            },
            recv(connection) -> update => match update {
                Ok(update) => engine.connection_update(update),
                Err(_) => Vec::new(),
            },
            recv(detections) -> detection => {
                if let Ok(detection) = detection {
                    engine.detect(detection);
                }
                Vec::new()
            }
            recv(requests) -> request => match request {
                Ok(request) => answer(&mut engine, request, &last_status),
                Err(_) => break,
            },
        };
        for event in happened {
            if let Some(event) = api_event(event) {
                let _ = events.send(event);
            }
        }
        // A call may have faulted a plugin: its waiting commands hear that it stopped, and
        // the status comparison reports it.
        engine.drop_orphaned_commands();
        let status = status_of(&engine);
        if status != last_status {
            let _ = events.send(ApiEvent::Status {
                status: Box::new(status.clone()),
            });
            last_status = status;
        }
    }
    engine.shutdown();
}

/// Answers one request; returns what the user should hear of its effect.
fn answer(engine: &mut Engine, request: Request, status: &Status) -> Vec<EngineEvent> {
    // A failed send means the caller gave up waiting: nothing to do about it.
    match request {
        Request::Status(reply) => {
            let _ = reply.send(status.clone());
        }
        Request::Click {
            plugin,
            item,
            reply,
        } => {
            let _ = reply.send(engine.click(&plugin, &item));
        }
        Request::NoticeAction {
            plugin,
            notice_key,
            action_id,
            reply,
        } => {
            let _ = reply.send(engine.notice_action(&plugin, &notice_key, &action_id));
        }
        Request::Command {
            plugin,
            command,
            argument,
            reply,
        } => engine.command(&plugin, &command, &argument, reply),
        Request::Config(reply) => {
            let _ = reply.send(engine.config_view());
        }
        Request::GetConfig { key, reply } => {
            let value = crate::config::get(engine.settings(), &key)
                .map(|value| SettingValue { value })
                .map_err(|error| error.to_string());
            let _ = reply.send(value);
        }
        Request::SettingsFile(reply) => {
            let _ = reply.send(
                engine
                    .ensure_settings_file()
                    .map_err(|error| format!("{error:#}")),
            );
        }
        Request::SetConfig { key, value, reply } => {
            let (answer, events) = match engine.set_config(&key, value.as_deref()) {
                Ok(events) => (Ok(engine.config_view()), events),
                Err(error) => (Err(format!("{error:#}")), Vec::new()),
            };
            let _ = reply.send(answer);
            return events;
        }
        Request::SetConfigs { changes, reply } => {
            let (answer, events) = match engine.set_configs(&changes) {
                Ok(events) => (Ok(engine.config_view()), events),
                Err(error) => (Err(format!("{error:#}")), Vec::new()),
            };
            let _ = reply.send(answer);
            return events;
        }
        Request::CheckConfigs { changes, reply } => {
            let _ = reply.send(engine.check_configs(&changes));
        }
        Request::KeyringRead {
            code,
            proxy_password,
            known,
        } => {
            engine.secrets_known(known);
            engine.secret_read(SecretValue::Code(code));
            engine.secret_read(SecretValue::ProxyPassword(proxy_password));
            // `config show` tells which secrets are set.
            return vec![EngineEvent::ConfigChanged];
        }
        Request::SecretChanged { secret, set, value } => {
            return engine.secret_changed(secret, set, value)
        }
        Request::ConnectionConfig(reply) => {
            let _ = reply.send(engine.connection_config());
        }
        Request::VerifyLicence { text, reply } => {
            let _ = reply.send(engine.verify_licence(&text));
        }
        Request::InstallLicence { text, reply } => {
            let (answer, events) = match engine.install_licence(&text) {
                Ok((installed, events)) => (Ok(installed), events),
                Err(reason) => (Err(reason), Vec::new()),
            };
            let _ = reply.send(answer);
            return events;
        }
        Request::Entitlement {
            release_date,
            reply,
        } => {
            let _ = reply.send(engine.entitlement(&release_date));
        }
        Request::AllowAssistance { hours, reply } => engine.allow_assistance(hours, reply),
        Request::RevokeAssistance(reply) => {
            let _ = reply.send(engine.revoke_assistance());
        }
        Request::AnswerAssistance {
            request,
            answer,
            reply,
        } => engine.answer_assistance(&request, answer, reply),
        Request::EndSession(reply) => {
            let _ = reply.send(engine.end_remote_session());
        }
        Request::AssistanceLog(reply) => {
            let _ = reply.send(engine.assistance_log());
        }
    }
    Vec::new()
}

/// What the engine shows now.
pub fn status_of(engine: &Engine) -> Status {
    Status {
        connection: engine.light().clone(),
        enabled: engine.settings().enabled,
        licence: engine.licence().map(summary),
        licence_folder: engine.licence_folder().to_path_buf(),
        plugins: engine.plugins(),
        plugin_folder_problem: engine.plugin_folder_problem().map(str::to_string),
        menu: engine.menu(),
        assistance: engine.assistance_status(),
    }
}

fn api_event(event: EngineEvent) -> Option<ApiEvent> {
    match event {
        EngineEvent::Notice { plugin_id, notice } => Some(ApiEvent::Notice(Notice {
            plugin: plugin_id,
            key: notice.key.to_string(),
            summary: notice.summary.to_string(),
            body: notice.body.to_string(),
            urgency: match notice.urgency {
                PluginUrgency::LOW => Urgency::Low,
                PluginUrgency::CRITICAL => Urgency::Critical,
                _ => Urgency::Normal,
            },
            actions: notice
                .actions
                .iter()
                .map(|action| (action.id.to_string(), action.label.to_string()))
                .collect(),
        })),
        EngineEvent::LicenceRefused(refusal) => Some(ApiEvent::LicenceRefused {
            path: refusal.path,
            reason: refusal.reason,
        }),
        EngineEvent::LicenceWarning(warning) => Some(ApiEvent::LicenceWarning { warning }),
        // Reported through the status.
        EngineEvent::LicenceChanged | EngineEvent::PluginsChanged => None,
        EngineEvent::ConfigChanged => Some(ApiEvent::ConfigChanged),
    }
}
