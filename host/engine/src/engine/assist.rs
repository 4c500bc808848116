//! The engine's side of remote assistance: the preconditions (what the engine knows: the
//! light, the licence, the bridge plugin, the proxy), the user's requests, and the bridge
//! plugin's commands, whose answers come back through [`Engine::plugin_message`].

use remote_service_api::{
    Answer, AssistanceStatus, AuditEntry, HelpRequest, Light, PluginInfo, PluginState, Precondition,
};
use remote_service_plugin_api::assistance::{
    self as bridge, Check, StartRequest, Started, StopRequest,
};
use remote_service_plugin_api::{Notice, NoticeAction, Urgency};
use time::{Duration, OffsetDateTime};
use tokio::sync::oneshot;

use super::{Engine, EngineEvent, Waiter};
use crate::assistance::{Allowance, Undo};
use crate::proxy::{ProxyMode, Purpose};

/// The plugin that drives TeamViewer.
pub const BRIDGE_PLUGIN: &str = "teamviewer-bridge";

/// The licence option of remote assistance.
pub const OPTION: &str = "remote-assistance";

pub use remote_service_api::HOST_NOTICES;
use remote_service_api::REQUEST_NOTICE;

/// An answer the engine waits for.
pub type AssistanceReply = oneshot::Sender<Result<AssistanceStatus, String>>;

/// What a command sent to the bridge was for.
pub enum Step {
    /// Allowing until `until`.
    Allow {
        until: OffsetDateTime,
        reply: AssistanceReply,
    },
    /// Accepting a request.
    Accept {
        request_id: String,
        reply: AssistanceReply,
    },
    /// Undoing what the bridge started.
    Undo,
}

impl Engine {
    /// Whether remote assistance is there at all: the bridge plugin installed and the
    /// option licensed (otherwise the menu has no item for it).
    fn assistance_present(&self) -> bool {
        self.bridge_info()
            .is_some_and(|info| self.present_with(&info))
    }

    fn present_with(&self, bridge: &PluginInfo) -> bool {
        bridge.state != PluginState::NotLicensed
            && self
                .store
                .in_force()
                .is_some_and(|licence| licence.has_feature(OPTION))
    }

    /// The bridge plugin, when it is installed.
    fn bridge_info(&self) -> Option<PluginInfo> {
        self.plugins
            .infos()
            .into_iter()
            .find(|info| info.id == BRIDGE_PLUGIN)
    }

    /// Every precondition, checked now (`info`: the bridge plugin, when installed).
    fn preconditions(&self, info: Option<&PluginInfo>) -> Vec<Precondition> {
        let precondition = |name: &str, ok: bool, detail: String| Precondition {
            name: name.to_string(),
            ok,
            detail,
        };
        let light = self.light();
        let connected = precondition(
            "licence-update",
            light.state == Light::Green,
            match light.state {
                Light::Green => "automatic licence update is configured and connected".into(),
                _ => format!(
                    "not connected to the remote service back office ({}): do \"Configure for automatic licence update\" first and wait for the green light",
                    light.reason.as_deref().unwrap_or("no reason given")
                ),
            },
        );
        let licensed = self
            .store
            .in_force()
            .is_some_and(|licence| licence.has_feature(OPTION));
        let licence = precondition(
            "licence",
            licensed,
            if licensed {
                format!("the licence includes the {OPTION} option")
            } else {
                format!("the licence in force does not include the {OPTION} option: ask your supplier for a licence with it")
            },
        );
        let running = self.plugins.is_running(BRIDGE_PLUGIN);
        let bridge = precondition(
            "bridge",
            running,
            match (info, running) {
                (None, _) => "the TeamViewer bridge plugin is not installed: install the remote assistance feature".into(),
                (Some(info), true) => format!("the TeamViewer bridge runs: {}", info.detail),
                (Some(info), false) => format!("the TeamViewer bridge does not run: {}", info.detail),
            },
        );
        // The bridge's latest check of TeamViewer, which it publishes as its details.
        let check = info
            .and_then(|info| info.details.clone())
            .and_then(|details| serde_json::from_value::<Check>(details).ok());
        let teamviewer = match check {
            Some(check) => precondition("teamviewer", check.installed, check.detail),
            None => precondition(
                "teamviewer",
                running,
                if running {
                    "TeamViewer is checked when remote assistance is allowed".into()
                } else {
                    "TeamViewer cannot be checked without the TeamViewer bridge".into()
                },
            ),
        };
        let detected = self.settings.proxy.mode == ProxyMode::Auto
            && !Purpose::RemoteAssistance.may_use_detected_proxy();
        let proxy = precondition(
            "proxy",
            !detected,
            match self.settings.proxy.mode {
                ProxyMode::Auto if detected => "remote assistance needs the proxy set by hand, not detected automatically: remote-service config set proxy.mode manual and proxy.url host:port".into(),
                ProxyMode::Manual => format!(
                    "the proxy is set by hand ({})",
                    self.settings.proxy.url.as_deref().unwrap_or("no proxy.url")
                ),
                _ => "no proxy".into(),
            },
        );
        vec![connected, licence, bridge, teamviewer, proxy]
    }

    /// Remote assistance now; `None` when it is not there.
    pub fn assistance_status(&self) -> Option<AssistanceStatus> {
        let bridge = self.bridge_info()?;
        self.present_with(&bridge)
            .then(|| self.assistance.status(self.preconditions(Some(&bridge))))
    }

    fn assistance_or_absent(&self) -> Result<AssistanceStatus, String> {
        self.assistance_status().ok_or_else(|| {
            format!("remote assistance is not available here: it needs the {OPTION} licence option and the TeamViewer bridge plugin")
        })
    }

    /// The record, oldest first.
    pub fn assistance_log(&self) -> Result<Vec<AuditEntry>, String> {
        self.assistance.read_log()
    }

    /// Sends the bridge `command`; its answer goes to `step`.
    fn send_to_bridge(&mut self, command: &str, argument: String, step: Step) {
        self.send_command(BRIDGE_PLUGIN, command, &argument, Waiter::Assistance(step));
    }

    fn undo(&mut self, undo: Undo) {
        if undo == Undo::default() {
            return;
        }
        let request = StopRequest {
            stop_daemon: undo.stop_daemon,
            disable_daemon: undo.disable_daemon,
        };
        let argument = serde_json::to_string(&request).unwrap_or_default();
        self.send_to_bridge(bridge::STOP, argument, Step::Undo);
    }

    /// What was started before the engine last stopped, for an allowance that expired
    /// meanwhile.
    pub(super) fn undo_after_start(&mut self, undo: Undo) {
        if self.plugins.is_running(BRIDGE_PLUGIN) {
            self.undo(undo);
        } else {
            tracing::warn!("remote assistance expired while Remote Service was not running; the TeamViewer bridge does not run to stop what it started");
        }
    }

    fn start_request(&self) -> StartRequest {
        let proxy = match (self.settings.proxy.mode, &self.settings.proxy.url) {
            (ProxyMode::Manual, Some(url)) => match crate::proxy::Hop::parse(url) {
                Ok(
                    crate::proxy::Hop::Http { host, port, .. }
                    | crate::proxy::Hop::Socks4 { host, port, .. }
                    | crate::proxy::Hop::Socks5 { host, port },
                ) => Some(bridge::ManualProxy {
                    host,
                    port,
                    user: self.settings.proxy.user_name(),
                }),
                _ => None,
            },
            _ => None,
        };
        StartRequest { proxy }
    }

    /// Allows remote assistance for `hours` (the setting when `None`); `reply` hears when
    /// the bridge made TeamViewer reachable, or why not.
    pub fn allow_assistance(&mut self, hours: Option<u32>, reply: AssistanceReply) {
        let hours = hours.unwrap_or(self.settings.assistance.hours);
        let refused = if !(remote_service_api::MIN_HOURS..=remote_service_api::MAX_HOURS)
            .contains(&hours)
        {
            Some(format!(
                "remote assistance is allowed for {} to {} hours, not {hours}",
                remote_service_api::MIN_HOURS,
                remote_service_api::MAX_HOURS
            ))
        } else {
            match self.assistance_or_absent() {
                Err(absent) => Some(absent),
                // TeamViewer itself is checked by the bridge, now.
                Ok(status) => status
                    .preconditions
                    .iter()
                    .filter(|precondition| !precondition.ok && precondition.name != "teamviewer")
                    .map(|precondition| format!("{}: {}", precondition.name, precondition.detail))
                    .reduce(|all, one| format!("{all}; {one}"))
                    .map(|missing| format!("remote assistance cannot be allowed: {missing}")),
            }
        };
        if let Some(refused) = refused {
            self.assistance.refused(&refused, OffsetDateTime::now_utc());
            let _ = reply.send(Err(refused));
            return;
        }
        let until = OffsetDateTime::now_utc() + Duration::hours(hours.into());
        let argument = serde_json::to_string(&self.start_request()).unwrap_or_default();
        self.send_to_bridge(bridge::START, argument, Step::Allow { until, reply });
    }

    /// Ends the allowance now.
    pub fn revoke_assistance(&mut self) -> Result<AssistanceStatus, String> {
        let status = self.assistance_or_absent()?;
        if !status.allowed {
            return Ok(status);
        }
        let undo = self.assistance.end(
            OffsetDateTime::now_utc(),
            "revoked",
            Some("by the user".into()),
        );
        self.undo(undo);
        self.assistance_or_absent()
    }

    /// Ends the remote session on.
    pub fn end_remote_session(&mut self) -> Result<AssistanceStatus, String> {
        self.assistance_or_absent()?;
        if let Some(undo) = self
            .assistance
            .end_session(OffsetDateTime::now_utc(), Some("by the user".into()))
        {
            self.undo(undo);
        }
        self.assistance_or_absent()
    }

    /// The user's answer to request `request_id`.
    pub fn answer_assistance(&mut self, request_id: &str, answer: Answer, reply: AssistanceReply) {
        if let Err(absent) = self.assistance_or_absent() {
            let _ = reply.send(Err(absent));
            return;
        }
        if self.assistance.waiting_request(request_id).is_none() {
            let _ = reply.send(Err(format!(
                "no request {request_id} waits for an answer (answered already, or its time ran out)"
            )));
            return;
        }
        match answer {
            Answer::Deny => {
                self.assistance
                    .deny(request_id, "denied", OffsetDateTime::now_utc());
                let _ = reply.send(self.assistance_or_absent());
            }
            Answer::Allow => {
                let argument = serde_json::to_string(&self.start_request()).unwrap_or_default();
                self.send_to_bridge(
                    bridge::START,
                    argument,
                    Step::Accept {
                        request_id: request_id.to_string(),
                        reply,
                    },
                );
            }
        }
    }

    /// A help-desk request arrived.
    pub(super) fn assistance_requested(
        &mut self,
        request: HelpRequest,
        answer_within: Duration,
    ) -> Vec<EngineEvent> {
        tracing::info!("{} (request {})", request.sentence(), request.request_id);
        if !self.assistance_present() {
            // Recorded and answered all the same: the help desk hears "not allowed".
            self.assistance
                .requested(request, answer_within, OffsetDateTime::now_utc());
            return Vec::new();
        }
        let key = format!("{REQUEST_NOTICE}{}", request.request_id);
        let summary = request.sentence();
        let body = if request.message.is_empty() {
            "Allow to let them connect through TeamViewer while remote assistance is allowed."
                .to_string()
        } else {
            request.message.clone()
        };
        if !self
            .assistance
            .requested(request, answer_within, OffsetDateTime::now_utc())
        {
            return Vec::new();
        }
        let mut notice = Notice::new(key, summary, body);
        notice.urgency = Urgency::CRITICAL;
        notice.actions = vec![
            NoticeAction {
                id: "allow".into(),
                label: "Allow".into(),
            },
            NoticeAction {
                id: "deny".into(),
                label: "Deny".into(),
            },
        ]
        .into();
        vec![EngineEvent::Notice {
            plugin_id: HOST_NOTICES.to_string(),
            notice,
        }]
    }

    /// The bridge answered a command sent for `step`.
    pub(super) fn bridge_answered(&mut self, step: Step, outcome: Result<String, String>) {
        let now = OffsetDateTime::now_utc();
        match step {
            Step::Undo => match outcome {
                Ok(done) => tracing::info!("remote assistance ended: {done}"),
                // On the record (the menu's "Recent activity", `assistance log`): the user
                // sees that TeamViewer's daemon may still run.
                Err(problem) => self.assistance.stop_failed(&problem, now),
            },
            Step::Allow { until, reply } => {
                let started = outcome.and_then(|answer| {
                    serde_json::from_str::<Started>(&answer).map_err(|error| {
                        format!("the TeamViewer bridge's answer cannot be read: {error}")
                    })
                });
                let allowed = started.and_then(|started| {
                    let before = self.assistance.allowance().cloned();
                    let allowance = Allowance {
                        until,
                        teamviewer_id: started.id,
                        started_daemon: started.started_daemon
                            || before.as_ref().is_some_and(|before| before.started_daemon),
                        enabled_daemon: started.enabled_daemon
                            || before.as_ref().is_some_and(|before| before.enabled_daemon),
                        steps: started.steps,
                    };
                    self.assistance.allow(allowance, now)
                });
                let answer = match allowed {
                    Ok(()) => self.assistance_or_absent(),
                    Err(problem) => {
                        let problem = format!("remote assistance cannot be allowed: {problem}");
                        self.assistance.refused(&problem, now);
                        Err(problem)
                    }
                };
                let _ = reply.send(answer);
            }
            Step::Accept { request_id, reply } => {
                let accepted = outcome
                    .and_then(|answer| {
                        serde_json::from_str::<Started>(&answer).map_err(|error| {
                            format!("the TeamViewer bridge's answer cannot be read: {error}")
                        })
                    })
                    .and_then(|started| {
                        self.assistance
                            .accept(&request_id, started.started_daemon, now)
                    });
                let answer = match accepted {
                    Ok(()) => self.assistance_or_absent(),
                    Err(problem) => {
                        tracing::warn!("the request {request_id} cannot be accepted: {problem}");
                        Err(format!("the request cannot be accepted: {problem}"))
                    }
                };
                let _ = reply.send(answer);
            }
        }
    }

    /// The next moment something of remote assistance ends by itself.
    pub fn assistance_deadline(&self) -> Option<OffsetDateTime> {
        self.assistance.next_deadline()
    }

    /// Ends what is due now (an allowance, a request's time to answer).
    pub fn assistance_tick(&mut self) {
        if let Some(undo) = self.assistance.tick(OffsetDateTime::now_utc()) {
            self.undo(undo);
        }
    }
}
