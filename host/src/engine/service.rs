//! The engine as a service: it runs on its own thread and answers requests from the local
//! API, and tells every subscriber what changed.

use std::thread::{self, JoinHandle};

use crossbeam_channel::{never, select, unbounded, Receiver, Sender};
use remote_service_plugin_api::Urgency;
use tokio::sync::{broadcast, oneshot};

use super::{Engine, EngineEvent};
use crate::api::{ApiEvent, ConfigView, LicenceSummary, MenuEntry, Status};
use crate::connection::ConnectionConfig;

/// A request to the engine thread.
enum Request {
    Status(oneshot::Sender<Status>),
    Menu(oneshot::Sender<Vec<MenuEntry>>),
    Click {
        plugin: String,
        item: String,
        reply: oneshot::Sender<bool>,
    },
    NoticeAction {
        plugin: String,
        notice_key: String,
        action_id: String,
        reply: oneshot::Sender<bool>,
    },
    Config(oneshot::Sender<ConfigView>),
    SetConfig {
        key: String,
        value: Option<String>,
        reply: oneshot::Sender<Result<ConfigView, String>>,
    },
    SetSecret {
        key: String,
        value: Option<String>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    ConnectionConfig(oneshot::Sender<ConnectionConfig>),
}

/// How the local API talks to the engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    requests: Sender<Request>,
    events: broadcast::Sender<ApiEvent>,
}

impl EngineHandle {
    /// The status now; `None` when the engine has stopped.
    pub async fn status(&self) -> Option<Status> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Status(reply)).ok()?;
        answer.await.ok()
    }

    /// The menu items of the running plugins.
    pub async fn menu(&self) -> Option<Vec<MenuEntry>> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Menu(reply)).ok()?;
        answer.await.ok()
    }

    /// Clicks a plugin's menu item; false when the plugin does not run or failed on it.
    pub async fn click(&self, plugin: &str, item: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        let request = Request::Click {
            plugin: plugin.to_string(),
            item: item.to_string(),
            reply,
        };
        if self.requests.send(request).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// Tells a plugin the user clicked a button of its notice; false when the plugin does
    /// not run or failed on it.
    pub async fn notice_action(&self, plugin: &str, notice_key: &str, action_id: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        let request = Request::NoticeAction {
            plugin: plugin.to_string(),
            notice_key: notice_key.to_string(),
            action_id: action_id.to_string(),
            reply,
        };
        if self.requests.send(request).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// The settings by key and which secrets are set.
    pub async fn config(&self) -> Option<ConfigView> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Config(reply)).ok()?;
        answer.await.ok()
    }

    /// Sets (`Some`) or resets (`None`) a setting; the error says why it was refused.
    pub async fn set_config(&self, key: &str, value: Option<String>) -> Result<ConfigView, String> {
        let key = key.to_string();
        self.change(|reply| Request::SetConfig { key, value, reply })
            .await
    }

    /// Stores (`Some`) or removes (`None`) a secret.
    pub async fn set_secret(&self, key: &str, value: Option<String>) -> Result<(), String> {
        let key = key.to_string();
        self.change(|reply| Request::SetSecret { key, value, reply })
            .await
    }

    async fn change<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Request,
    ) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .map_err(|_| "the engine is stopping".to_string())?;
        answer
            .await
            .unwrap_or_else(|_| Err("the engine is stopping".to_string()))
    }

    /// What the connection uses now (for `test-connection`).
    pub async fn connection_config(&self) -> Option<ConnectionConfig> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::ConnectionConfig(reply)).ok()?;
        answer.await.ok()
    }

    /// Everything that happens from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ApiEvent> {
        self.events.subscribe()
    }
}

/// The engine thread; dropping [`EngineService::stop`]'s sender or calling it ends it.
pub struct EngineService {
    handle: EngineHandle,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl EngineService {
    /// Runs `engine` on its own thread.
    pub fn start(engine: Engine) -> std::io::Result<EngineService> {
        let (requests, request_receiver) = unbounded();
        let (events, _) = broadcast::channel(256);
        let (stop, stopped) = unbounded();
        let thread_events = events.clone();
        let thread = thread::Builder::new()
            .name("engine".into())
            .spawn(move || run(engine, &request_receiver, &thread_events, &stopped))?;
        Ok(EngineService {
            handle: EngineHandle { requests, events },
            stop,
            thread: Some(thread),
        })
    }

    /// The handle the local API uses.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops the plugins and the engine thread.
    pub fn stop(&mut self) {
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
        let (folder_changes, messages, connection) = engine.inputs();
        let folder_changes = if folder_gone { never() } else { folder_changes };
        let messages = if messages_gone { never() } else { messages };
        let happened = select! {
            recv(stopped) -> _ => break,
            recv(folder_changes) -> change => match change {
                Ok(()) => engine.licence_folder_changed(),
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

fn answer(engine: &mut Engine, request: Request, status: &Status) -> Vec<EngineEvent> {
    match request {
        Request::Status(reply) => {
            let _ = reply.send(status.clone());
        }
        Request::Menu(reply) => {
            let entries = engine
                .menu_items()
                .into_iter()
                .map(|(plugin, item)| MenuEntry {
                    plugin,
                    id: item.id.to_string(),
                    label: item.label.to_string(),
                    enabled: item.enabled,
                    checked: item.checked.into_option(),
                })
                .collect();
            let _ = reply.send(entries);
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
        Request::Config(reply) => {
            let _ = reply.send(engine.config_view());
        }
        Request::SetConfig { key, value, reply } => {
            let (answer, events) = match engine.set_config(&key, value.as_deref()) {
                Ok(events) => (Ok(engine.config_view()), events),
                Err(error) => (Err(format!("{error:#}")), Vec::new()),
            };
            let _ = reply.send(answer);
            return events;
        }
        Request::SetSecret { key, value, reply } => {
            let (answer, events) = match engine.set_secret(&key, value.as_deref()) {
                Ok(events) => (Ok(()), events),
                Err(error) => (Err(format!("{error:#}")), Vec::new()),
            };
            let _ = reply.send(answer);
            return events;
        }
        Request::ConnectionConfig(reply) => {
            let _ = reply.send(engine.connection_config());
        }
    }
    // A call may have faulted a plugin: the status comparison after this reports it.
    Vec::new()
}

/// What the engine shows now.
pub fn status_of(engine: &Engine) -> Status {
    Status {
        connection: engine.light().clone(),
        enabled: engine.settings().enabled,
        licence: engine.licence().map(LicenceSummary::of),
        licence_folder: engine.licence_folder().to_path_buf(),
        plugins: engine.plugins(),
        plugin_folder_problem: engine.plugin_folder_problem().map(str::to_string),
    }
}

fn api_event(event: EngineEvent) -> Option<ApiEvent> {
    match event {
        EngineEvent::Notice { plugin_id, notice } => Some(ApiEvent::Notice {
            plugin: plugin_id,
            key: notice.key.to_string(),
            summary: notice.summary.to_string(),
            body: notice.body.to_string(),
            urgency: match notice.urgency {
                Urgency::LOW => "low",
                Urgency::CRITICAL => "critical",
                _ => "normal",
            }
            .to_string(),
            actions: notice
                .actions
                .iter()
                .map(|action| (action.id.to_string(), action.label.to_string()))
                .collect(),
        }),
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
