//! What reaches the tray's event loop from outside it: the engine's event stream (followed
//! on a thread of its own), calls to the engine off the UI thread, and stop signals.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use remote_service_api::{ApiEvent, Client, ClientError, Notice, Status, Urgency};
use tray_icon::menu::MenuEvent;
use winit::event_loop::EventLoopProxy;

/// What reaches the tray's event loop.
#[derive(Debug)]
pub enum TrayEvent {
    /// The engine's status, with the plugins' menu items.
    Update(Box<Status>),
    /// A plugin notice or a licence refusal, already in words.
    Notice {
        key: String,
        summary: String,
        body: String,
        urgency: Urgency,
    },
    /// A plugin notice with buttons: the answer goes back to the plugin.
    Question(Notice),
    /// The engine stopped answering.
    EngineGone,
    /// The session ends (SIGTERM) or the user pressed Ctrl-C: quit as with Quit.
    Stop,
    /// A menu item was clicked.
    Menu(MenuEvent),
    /// The settings the tray uses (read at the start of the stream and after each change).
    Settings {
        /// `tray.connection_lost_notice_s`.
        connection_lost_notice: Duration,
    },
}

/// What the tray does with one event of the engine's stream: `None` for the events whose
/// effect the next status shows.
fn tray_event(event: ApiEvent) -> Option<TrayEvent> {
    Some(match event {
        ApiEvent::Status { status } => TrayEvent::Update(status),
        ApiEvent::Notice(notice) if notice.actions.is_empty() => TrayEvent::Notice {
            key: format!("plugin:{}:{}", notice.plugin, notice.key),
            summary: notice.summary,
            body: notice.body,
            urgency: notice.urgency,
        },
        ApiEvent::Notice(notice) => TrayEvent::Question(notice),
        ApiEvent::LicenceRefused { path, reason } => TrayEvent::Notice {
            key: "licence-refused".into(),
            summary: "Licence refused".into(),
            body: format!(
                "{}: {reason}. The licence in force stays.",
                path.file_name()
                    .map(|name| name.to_string_lossy())
                    .unwrap_or_default()
            ),
            urgency: Urgency::Normal,
        },
        ApiEvent::LicenceWarning { warning } => TrayEvent::Notice {
            key: "licence-warning".into(),
            summary: "Licence warning".into(),
            body: warning,
            urgency: Urgency::Normal,
        },
        ApiEvent::ConfigChanged => return None,
    })
}

/// Follows the engine's event stream on a thread of its own and forwards what the tray
/// shows; reconnects when the engine comes back.
pub fn follow_engine(client: Arc<Client>, proxy: EventLoopProxy<TrayEvent>) {
    let spawned = thread::Builder::new()
        .name("engine events".into())
        .spawn(move || loop {
            if let Ok(events) = client.events() {
                if let Some(settings) = tray_settings(&client) {
                    if proxy.send_event(settings).is_err() {
                        return;
                    }
                }
                for event in events {
                    let Ok(event) = event else { break };
                    if matches!(event, ApiEvent::ConfigChanged) {
                        if let Some(settings) = tray_settings(&client) {
                            if proxy.send_event(settings).is_err() {
                                return;
                            }
                        }
                    }
                    if let Some(forwarded) = tray_event(event) {
                        if proxy.send_event(forwarded).is_err() {
                            return;
                        }
                    }
                }
            }
            if proxy.send_event(TrayEvent::EngineGone).is_err() {
                return;
            }
            thread::sleep(Duration::from_secs(2));
        });
    if let Err(error) = spawned {
        tracing::error!("cannot follow the engine: {error}");
    }
}

/// The tray's settings as the engine has them (`None` when it cannot say: the tray keeps
/// what it had).
fn tray_settings(client: &Client) -> Option<TrayEvent> {
    let config = client.config().ok()?;
    let seconds = config
        .settings
        .get("tray.connection_lost_notice_s")?
        .as_deref()?
        .parse::<u64>()
        .ok()?;
    Some(TrayEvent::Settings {
        connection_lost_notice: Duration::from_secs(seconds),
    })
}

/// Runs `call` on a thread of its own (the engine may take a plugin's time limit to
/// answer); a failure goes to the log (the user clicked something the engine can no
/// longer do: the plugin faulted or the engine stopped, which the tray shows anyway).
pub fn deliver(
    client: &Arc<Client>,
    what: String,
    call: impl FnOnce(&Client) -> Result<(), ClientError> + Send + 'static,
) {
    let client = client.clone();
    thread::spawn(move || {
        if let Err(error) = call(&client) {
            tracing::warn!("not delivered to the engine ({what}): {error:#}");
        }
    });
}

/// Runs `test-connection` in the engine and puts the outcome in words for a notice.
pub fn test_connection_notice(client: &Client) -> TrayEvent {
    let (summary, body) = match client.test_connection() {
        Ok(report) => {
            let (summary, body) = report.notice();
            (summary.to_string(), body)
        }
        Err(error) => ("Connection test failed".to_string(), format!("{error:#}")),
    };
    TrayEvent::Notice {
        key: "test-connection".into(),
        summary,
        body,
        urgency: Urgency::Normal,
    }
}

/// Quits the tray like its Quit item on SIGTERM (the session ends) or SIGINT, so that an
/// embedded engine stops its plugins and removes its socket.
pub fn quit_on_stop_signal(proxy: EventLoopProxy<TrayEvent>) {
    let spawned = thread::Builder::new()
        .name("stop signal".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(remote_service_engine::stop_signal());
                let _ = proxy.send_event(TrayEvent::Stop);
            }
        });
    if let Err(error) = spawned {
        tracing::error!("cannot watch for stop signals: {error}");
    }
}
