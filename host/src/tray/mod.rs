//! `remote-service tray`: the tray light, its menu and the notices, a client of the engine
//! through the local API. When no engine runs, the tray starts one in its own process (the
//! embedded default). Plugin code never runs on the tray's thread: the tray only talks to
//! the engine.

mod autostart;
mod connection_notice;
mod events;
mod icons;
mod notices;
mod view;

#[cfg(all(target_os = "linux", feature = "appindicator", not(feature = "ksni")))]
#[path = "appindicator.rs"]
mod backend;
#[cfg(not(all(target_os = "linux", feature = "appindicator", not(feature = "ksni"))))]
#[path = "direct.rs"]
mod backend;
#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod platform;

use std::fs::{self, File};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use anyhow::{anyhow, bail, Context, Result};
use remote_service_api::{Client, Connection, Light, Notice, PluginState, Status, Urgency};
use remote_service_engine::{Listen, Parts, Scope};
use tray_icon::menu::MenuEvent;
use winit::application::ApplicationHandler;
use winit::event::{StartCause, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::window::WindowId;

use connection_notice::{ConnectionWatch, Moment};
use events::{deliver, follow_engine, quit_on_stop_signal, test_connection_notice, TrayEvent};
pub use icons::IconState;
use notices::Notices;
use view::{MenuLine, TrayView};

/// The tray's id for panels: fixed, so that a panel keeps the user's placement of it.
pub const TRAY_ID: &str = "remote-service";

/// Menu item ids.
const STATUS_ROW: &str = "status";
const SETTINGS: &str = "settings";
const ENABLE: &str = "enable";
const TEST_CONNECTION: &str = "test-connection";
const START_AT_LOGIN: &str = "start-at-login";
const ABOUT: &str = "about";
const QUIT: &str = "quit";
const ASSIST_ALLOW: &str = "assistance-allow";
const ASSIST_REVOKE: &str = "assistance-revoke";
const ASSIST_END: &str = "assistance-end";
const ASSIST_ANSWER: &str = "assistance-answer";
/// The title of the notice when allowing failed.
const NOT_ALLOWED: &str = "Remote assistance not allowed";
/// The title of the notice when answering a request failed.
const NOT_ANSWERED: &str = "The request was not answered";
/// Plugin items are `plugin<SEP>plugin id<SEP>item id`.
const SEP: char = '\u{1f}';

/// Runs the tray until Quit.
pub fn run() -> Result<ExitCode> {
    // Where the system service is installed, the tray is its client: it never starts an
    // engine of its own, and shows "the Remote Service service is not running" until the
    // service answers.
    let system = remote_service_api::system_service_installed();
    let socket = remote_service_api::client_socket();
    if !platform::has_display() {
        if system {
            anyhow::bail!("no display (DISPLAY and WAYLAND_DISPLAY are not set): nothing to show; the system service runs the engine");
        }
        eprintln!("no display (DISPLAY and WAYLAND_DISPLAY are not set): running the engine without a tray");
        return crate::daemon::run(Scope::User);
    }
    // One tray per session, locked in the user's folder (the system service's is not theirs).
    let _instance = single_instance(&remote_service_api::socket_path(false))?;
    let _embedded = if system {
        tracing::info!(
            "the tray is a client of the system service on {}",
            socket.display()
        );
        None
    } else if Client::running(&socket)?.is_some() {
        tracing::info!("the tray attaches to the engine on {}", socket.display());
        None
    } else {
        tracing::info!(
            "no engine runs: the tray starts its own on {}",
            socket.display()
        );
        Some(remote_service_engine::start(
            Scope::User,
            Listen::Shared,
            Parts::ALL,
        )?)
    };
    if let Some(problem) = platform::tray_host_problem() {
        // A warning: on standard error and in the log.
        tracing::warn!("{problem}");
    }
    let client = Arc::new(Client::new(&socket).context("cannot reach the engine")?);

    let event_loop = EventLoop::<TrayEvent>::with_user_event()
        .build()
        .context("cannot start the tray's event loop")?;
    let proxy = event_loop.create_proxy();
    let menu_proxy = proxy.clone();
    MenuEvent::set_event_handler(Some(move |event| {
        let _ = menu_proxy.send_event(TrayEvent::Menu(event));
    }));
    // Activating the item (a left click on the icon) opens the settings window.
    let click_proxy = proxy.clone();
    tray_icon::TrayIconEvent::set_event_handler(Some(move |event| {
        if let tray_icon::TrayIconEvent::Click {
            button: tray_icon::MouseButton::Left,
            ..
        } = event
        {
            let _ = click_proxy.send_event(TrayEvent::Menu(MenuEvent {
                id: tray_icon::menu::MenuId::new(SETTINGS),
            }));
        }
    }));
    follow_engine(client.clone(), proxy.clone());
    quit_on_stop_signal(proxy.clone());
    let mut app = TrayApp::new(proxy, client);
    event_loop
        .run_app(&mut app)
        .context("the tray's event loop failed")?;
    Ok(ExitCode::SUCCESS)
}

/// One tray per session: a lock next to the engine's socket, held while the tray runs.
fn single_instance(socket: &Path) -> Result<File> {
    let dir = socket
        .parent()
        .ok_or_else(|| anyhow!("the socket path {} has no folder", socket.display()))?;
    platform::create_private_dir(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // The lock lives beside the engine's socket: a folder someone else made or can write
    // is refused, as the client refuses it.
    if let Some(reason) = remote_service_api::distrust(socket) {
        bail!(
            "refused to use the Remote Service folder {}: {reason}",
            dir.display()
        );
    }
    let path = dir.join("tray.lock");
    let file = platform::open_lock(&path)
        .with_context(|| format!("cannot open the tray lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(anyhow!(
            "the Remote Service tray already runs in this session"
        )),
        Err(fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock the tray lock {}", path.display()))
        }
    }
}

struct TrayApp {
    proxy: EventLoopProxy<TrayEvent>,
    client: Arc<Client>,
    tray: Option<backend::Tray>,
    status: Option<Status>,
    notices: Notices,
    connection_watch: ConnectionWatch,
}

impl TrayApp {
    fn new(proxy: EventLoopProxy<TrayEvent>, client: Arc<Client>) -> TrayApp {
        TrayApp {
            proxy,
            client,
            tray: None,
            status: None,
            notices: Notices::default(),
            connection_watch: ConnectionWatch::new(Moment::now()),
        }
    }

    fn connection(&self) -> Connection {
        match &self.status {
            Some(status) => status.connection.clone(),
            None => Connection::not_running(),
        }
    }

    fn build_tray(&mut self) {
        match backend::Tray::start(self.view()) {
            Ok(tray) => self.tray = Some(tray),
            Err(error) => {
                tracing::error!("cannot create the tray icon: {error}");
                eprintln!("cannot create the tray icon: {error}");
            }
        }
    }

    /// What the tray shows now. Every function is in the menu: GNOME shows only the menu.
    fn view(&self) -> TrayView {
        let connection = self.connection();
        let item = |id: &str, label: &str| MenuLine::Item {
            id: id.into(),
            label: label.into(),
            enabled: true,
        };
        let mut menu = vec![MenuLine::Item {
            id: STATUS_ROW.into(),
            // What failed, short: the whole reason is in the tooltip and the window.
            label: connection.short_sentence(),
            enabled: false,
        }];
        let disabled = self.status.as_ref().is_some_and(|status| !status.enabled);
        if disabled {
            // Grey because it is off: one click turns it on.
            menu.push(item(ENABLE, "Enable Remote Service"));
        }
        menu.push(MenuLine::Separator);
        let menu_entries = self
            .status
            .as_ref()
            .map(|status| status.menu.as_slice())
            .unwrap_or_default();
        for entry in menu_entries {
            let id = format!("plugin{SEP}{}{SEP}{}", entry.plugin, entry.id);
            let (label, enabled) = (entry.label.clone(), entry.enabled);
            menu.push(match entry.checked {
                Some(checked) => MenuLine::Check {
                    id,
                    label,
                    enabled,
                    checked,
                },
                None => MenuLine::Item { id, label, enabled },
            });
        }
        if !menu_entries.is_empty() {
            menu.push(MenuLine::Separator);
        }
        let assistance = self
            .status
            .as_ref()
            .and_then(|status| status.assistance.as_ref());
        if let Some(assistance) = assistance {
            menu.extend(assistance_lines(assistance));
            menu.push(MenuLine::Separator);
        }
        menu.push(item(TEST_CONNECTION, "Test connection"));
        menu.push(item(SETTINGS, "Settings…"));
        menu.push(MenuLine::Check {
            id: START_AT_LOGIN.into(),
            label: "Start at login".into(),
            enabled: true,
            checked: autostart::is_enabled(),
        });
        menu.push(item(ABOUT, "About…"));
        menu.push(MenuLine::Separator);
        menu.push(item(QUIT, "Quit"));
        let session = assistance.and_then(|assistance| assistance.session.as_ref());
        TrayView {
            // The session on is a shape of its own, not only a colour.
            icon: match session {
                Some(_) => IconState::RemoteSession,
                None => IconState::of(connection.state),
            },
            tooltip: match session {
                Some(session) => format!(
                    "Remote Service: remote session with {} of {}",
                    session.help_desk_user, session.organisation
                ),
                None => format!("Remote Service: {}", connection.sentence()),
            },
            menu,
        }
    }

    /// Shows a new status: icon, tooltip, menu; and notices for plugins that just faulted.
    fn show(&mut self, status: Option<Status>) {
        if let (Some(before), Some(now)) = (&self.status, &status) {
            for plugin in &now.plugins {
                let was = before
                    .plugins
                    .iter()
                    .find(|p| p.id == plugin.id)
                    .map(|p| p.state);
                if plugin.state == PluginState::Faulted && was != Some(PluginState::Faulted) {
                    self.notices.show(
                        &format!("plugin-faulted:{}", plugin.id),
                        &format!("{} stopped working", plugin.name()),
                        &format!("{}. Remote Service goes on without it.", plugin.detail),
                        Urgency::Critical,
                    );
                }
            }
        }
        // A help-desk request answered elsewhere (the menu, the command line, its time ran
        // out): its question leaves the desktop.
        let waiting = |status: &Option<Status>| -> Vec<String> {
            status
                .as_ref()
                .and_then(|status| status.assistance.as_ref())
                .map(|assistance| {
                    assistance
                        .requests
                        .iter()
                        .map(|request| request.request_id.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let now_waiting = waiting(&status);
        for gone in waiting(&self.status)
            .into_iter()
            .filter(|id| !now_waiting.contains(id))
        {
            self.notices.close(&question_key(
                remote_service_api::HOST_NOTICES,
                &format!("{}{gone}", remote_service_api::REQUEST_NOTICE),
            ));
        }
        self.status = status;
        let connection = self.connection();
        self.watch_connection(Some((connection.state, connection.reason.as_deref())));
        let view = self.view();
        if let Some(tray) = &mut self.tray {
            tray.show(view);
        }
    }

    /// Tells the user the connection is lost when it stays lost (see [`ConnectionWatch`]).
    fn watch_connection(&mut self, light: Option<(Light, Option<&str>)>) {
        if let Some(reason) = self.connection_watch.observe(light, Moment::now()) {
            self.notices.show(
                "connection-lost",
                "Connection to the remote service back office lost",
                &format!("{reason}. Remote Service keeps trying to connect."),
                Urgency::Normal,
            );
        }
        if self.connection_watch.take_restored() {
            self.notices.show(
                "connection-restored",
                "Connection to the remote service back office restored",
                "Remote Service is connected again.",
                Urgency::Low,
            );
        }
    }

    fn clicked(&mut self, event_loop: &ActiveEventLoop, id: &str) {
        match id {
            QUIT => event_loop.exit(),
            SETTINGS => self.open_window("settings", "Cannot show the settings"),
            ENABLE => {
                let (client, proxy) = (self.client.clone(), self.proxy.clone());
                thread::spawn(move || {
                    if let Err(error) = client.set_config("enabled", "true") {
                        let _ = proxy.send_event(TrayEvent::Notice {
                            key: "enable".into(),
                            summary: "Remote Service not enabled".into(),
                            body: format!("{error:#}"),
                            urgency: Urgency::Normal,
                        });
                    }
                });
            }
            TEST_CONNECTION => {
                let (client, proxy) = (self.client.clone(), self.proxy.clone());
                // The test takes up to the request time limit per step: off the UI thread.
                thread::spawn(move || {
                    let _ = proxy.send_event(test_connection_notice(&client));
                });
            }
            START_AT_LOGIN => {
                let enable = !autostart::is_enabled();
                if let Err(error) = autostart::set_enabled(enable) {
                    self.notices.show(
                        "start-at-login",
                        "Start at login",
                        &format!("{error:#}"),
                        Urgency::Normal,
                    );
                }
                self.show(self.status.clone());
            }
            ABOUT => self.open_window("about", "Cannot show the About box"),
            ASSIST_ALLOW => {
                self.assistance_call(NOT_ALLOWED, true, |client| client.allow_assistance(None))
            }
            ASSIST_REVOKE => {
                self.assistance_call("Remote assistance not revoked", false, |client| {
                    client.revoke_assistance()
                })
            }
            ASSIST_END => self.assistance_call("Remote session not ended", false, |client| {
                client.end_session()
            }),
            _ if id.starts_with(ASSIST_ANSWER) => {
                let mut parts = id.split(SEP).skip(1);
                if let (Some(answer), Some(request)) = (parts.next(), parts.next()) {
                    let answer = if answer == "allow" {
                        remote_service_api::Answer::Allow
                    } else {
                        remote_service_api::Answer::Deny
                    };
                    let request = request.to_string();
                    self.assistance_call(NOT_ANSWERED, false, move |client| {
                        client.answer_assistance(&request, answer)
                    });
                }
            }
            _ => {
                let mut parts = id.split(SEP);
                if let (Some("plugin"), Some(plugin), Some(item)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    let (plugin, item) = (plugin.to_string(), item.to_string());
                    // The plugin answers on its own thread; the tray does not wait for it.
                    deliver(
                        &self.client,
                        format!("{plugin}'s menu item {item}"),
                        move |client| client.click(&plugin, &item),
                    );
                }
            }
        }
    }

    /// Runs a remote assistance call on a thread of its own (the bridge starts TeamViewer's
    /// daemon); a refusal is a notice with the reason, which names the missing
    /// precondition.
    fn assistance_call(
        &self,
        title: &'static str,
        tell_steps: bool,
        call: impl FnOnce(&Client) -> AssistanceAnswer + Send + 'static,
    ) {
        call_assistance(
            self.client.clone(),
            self.proxy.clone(),
            title,
            tell_steps,
            call,
        );
    }

    /// A window (`settings`, `about`) in a process of its own, so that the tray never holds
    /// a window's memory; reaped on a thread of its own, so that a closed window leaves no
    /// zombie. A window that cannot start, or ends with an error, says so in a notice.
    fn open_window(&mut self, command: &'static str, failed: &'static str) {
        let started = std::env::current_exe().and_then(|exe| {
            std::process::Command::new(exe)
                .arg(command)
                .stderr(std::process::Stdio::piped())
                .spawn()
        });
        match started {
            Ok(child) => {
                let proxy = self.proxy.clone();
                thread::spawn(move || {
                    let Ok(output) = child.wait_with_output() else {
                        return;
                    };
                    // An error of its own (a signal is someone ending it, not a failure).
                    if output.status.code().is_some_and(|code| code != 0) {
                        let said = String::from_utf8_lossy(&output.stderr);
                        let _ = proxy.send_event(TrayEvent::Notice {
                            key: command.into(),
                            summary: failed.into(),
                            body: said
                                .lines()
                                .rfind(|line| !line.trim().is_empty())
                                .unwrap_or("the window ended with an error")
                                .trim_start_matches("error: ")
                                .to_string(),
                            urgency: Urgency::Normal,
                        });
                    }
                });
            }
            Err(error) => self
                .notices
                .show(command, failed, &error.to_string(), Urgency::Normal),
        }
    }
}

/// What a remote assistance call returns.
type AssistanceAnswer =
    Result<remote_service_api::AssistanceStatus, remote_service_api::ClientError>;

/// Runs a remote assistance call on a thread of its own (the bridge starts TeamViewer's
/// daemon); a refusal is a notice titled `title` with the reason, which names the missing
/// precondition. With `tell_steps`, what is left to do by hand (the proxy in TeamViewer)
/// is a notice too.
fn call_assistance(
    client: Arc<Client>,
    proxy: EventLoopProxy<TrayEvent>,
    title: &'static str,
    tell_steps: bool,
    call: impl FnOnce(&Client) -> AssistanceAnswer + Send + 'static,
) {
    thread::spawn(move || {
        let notice = match call(&client) {
            Err(error) => Some((title.to_string(), format!("{error:#}"))),
            Ok(status) if tell_steps && !status.steps.is_empty() => Some((
                "Remote assistance allowed: one more step".to_string(),
                status.steps.join("\n"),
            )),
            Ok(_) => None,
        };
        if let Some((summary, body)) = notice {
            let _ = proxy.send_event(TrayEvent::Notice {
                key: "assistance".into(),
                summary,
                body,
                urgency: Urgency::Normal,
            });
        }
    });
}

/// The key under which the tray shows a plugin's (or the engine's) question.
fn question_key(plugin: &str, key: &str) -> String {
    format!("question:{plugin}:{key}")
}

/// The menu's remote assistance lines: the allowance (a check item), the session on, the
/// requests waiting for an answer, and the recent activity.
fn assistance_lines(assistance: &remote_service_api::AssistanceStatus) -> Vec<MenuLine> {
    use crate::local_time::local_time;
    let item = |id: String, label: String| MenuLine::Item {
        id,
        label,
        enabled: true,
    };
    let mut lines = Vec::new();
    match (&assistance.until, assistance.allowed) {
        (Some(until), true) => {
            lines.push(MenuLine::Check {
                id: ASSIST_REVOKE.into(),
                label: format!("Remote assistance allowed until {}", local_time(until)),
                enabled: true,
                checked: true,
            });
            lines.push(item(ASSIST_REVOKE.into(), "Revoke now".into()));
        }
        _ => lines.push(MenuLine::Check {
            id: ASSIST_ALLOW.into(),
            label: "Allow remote assistance".into(),
            enabled: true,
            checked: false,
        }),
    }
    if let Some(session) = &assistance.session {
        lines.push(MenuLine::Item {
            id: "assistance-session".into(),
            label: format!(
                "Remote session with {} of {} since {}",
                session.help_desk_user,
                session.organisation,
                local_time(&session.started_at)
            ),
            enabled: false,
        });
        lines.push(item(ASSIST_END.into(), "End remote session".into()));
    }
    for request in &assistance.requests {
        lines.push(MenuLine::Item {
            id: format!("assistance-request{SEP}{}", request.request_id),
            label: request.sentence(),
            enabled: false,
        });
        lines.push(item(
            format!("{ASSIST_ANSWER}{SEP}allow{SEP}{}", request.request_id),
            format!("Allow {} to connect", request.help_desk_user),
        ));
        lines.push(item(
            format!("{ASSIST_ANSWER}{SEP}deny{SEP}{}", request.request_id),
            format!("Deny {}'s request", request.help_desk_user),
        ));
    }
    if !assistance.recent.is_empty() || assistance.record_problem.is_some() {
        let mut recent: Vec<MenuLine> =
            assistance
                .record_problem
                .iter()
                .cloned()
                .chain(assistance.recent.iter().map(|entry| {
                    format!("{}: {}", local_time(&entry.at), entry.words(&local_time))
                }))
                .enumerate()
                .map(|(at, label)| MenuLine::Item {
                    id: format!("assistance-recent{SEP}{at}"),
                    label,
                    enabled: false,
                })
                .collect();
        recent.truncate(6);
        lines.push(MenuLine::Submenu {
            label: "Recent activity".into(),
            lines: recent,
        });
    }
    lines
}

impl ApplicationHandler<TrayEvent> for TrayApp {
    fn new_events(&mut self, _event_loop: &ActiveEventLoop, cause: StartCause) {
        // tray-icon wants the icon made once the event loop runs (macOS needs it).
        if cause == StartCause::Init && self.tray.is_none() {
            self.build_tray();
        }
        if let StartCause::ResumeTimeReached { .. } = cause {
            self.watch_connection(None);
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        // A timer only while a connection-lost notice may become due: an idle tray sleeps.
        event_loop.set_control_flow(match self.connection_watch.deadline() {
            Some(deadline) => ControlFlow::WaitUntil(deadline),
            None => ControlFlow::Wait,
        });
    }

    fn resumed(&mut self, _event_loop: &ActiveEventLoop) {}

    fn window_event(
        &mut self,
        _event_loop: &ActiveEventLoop,
        _window: WindowId,
        _event: WindowEvent,
    ) {
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: TrayEvent) {
        match event {
            TrayEvent::Update(status) => self.show(Some(*status)),
            TrayEvent::EngineGone => {
                if self.status.is_some() {
                    self.show(None);
                }
            }
            TrayEvent::Notice {
                key,
                summary,
                body,
                urgency,
            } => self.notices.show(&key, &summary, &body, urgency),
            TrayEvent::Question(Notice {
                plugin,
                key,
                summary,
                body,
                urgency,
                actions,
            }) => {
                let (client, proxy) = (self.client.clone(), self.proxy.clone());
                let notice_key = question_key(&plugin, &key);
                self.notices.ask(
                    &notice_key,
                    &summary,
                    &body,
                    urgency,
                    &actions,
                    move |action| {
                        // A help-desk request: answered as the menu answers it, and a
                        // failure (TeamViewer cannot start) is a notice.
                        let request = (plugin == remote_service_api::HOST_NOTICES)
                            .then(|| key.strip_prefix(remote_service_api::REQUEST_NOTICE))
                            .flatten()
                            .map(str::to_string);
                        if let Some(request) = request {
                            let answer = if action == "allow" {
                                remote_service_api::Answer::Allow
                            } else {
                                remote_service_api::Answer::Deny
                            };
                            call_assistance(client, proxy, NOT_ANSWERED, false, move |client| {
                                client.answer_assistance(&request, answer)
                            });
                            return;
                        }
                        deliver(
                            &client,
                            format!("{plugin}'s notice {key}, button {action}"),
                            move |client| client.answer_notice(&plugin, &key, &action),
                        );
                    },
                );
            }
            TrayEvent::Menu(event) => self.clicked(event_loop, &event.id.0),
            TrayEvent::Settings {
                connection_lost_notice,
            } => {
                self.connection_watch.set_grace(connection_lost_notice);
                self.watch_connection(None);
            }
            TrayEvent::Stop => event_loop.exit(),
        }
    }
}
