//! Remote assistance: whether the help desk may connect, until when, through which
//! TeamViewer ID, the requests waiting for the user's answer, the session on, and the
//! record (`GET /v1/assistance`, `…/allow`, `…/revoke`, `…/requests/{id}/answer`,
//! `…/session/end`, `…/log`).

use serde::{Deserialize, Serialize};

/// The `plugin` of the notices the engine raises itself (a help-desk request), for their
/// buttons' `POST /v1/plugins/{plugin}/notices/{key}/actions/{action}`.
pub const HOST_NOTICES: &str = "remote-service";

/// The key of a help-desk request's notice: this, then the request's id.
pub const REQUEST_NOTICE: &str = "assistance-request:";

/// The fewest hours an allowance lasts.
pub const MIN_HOURS: u32 = 1;
/// The most (a week, as the vendor's PRISMAsync allows).
pub const MAX_HOURS: u32 = 168;
/// Without `--hours` (and without the setting `assistance.hours`).
pub const DEFAULT_HOURS: u32 = 72;

/// `GET /v1/assistance`, and the status's `assistance` while the feature is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistanceStatus {
    /// Whether the help desk may ask to connect now.
    pub allowed: bool,
    /// Until when (RFC 3339, UTC), while allowed.
    pub until: Option<String>,
    /// The TeamViewer ID the help desk connects to, while allowed and known.
    pub teamviewer_id: Option<String>,
    /// The remote session on, if any.
    pub session: Option<RemoteSession>,
    /// Each precondition, checked now.
    pub preconditions: Vec<Precondition>,
    /// Requests of the help desk waiting for the user's answer.
    #[serde(default)]
    pub requests: Vec<HelpRequest>,
    /// What the user must still do by hand (set the proxy in TeamViewer), empty when
    /// nothing.
    #[serde(default)]
    pub steps: Vec<String>,
    /// The latest entries of the record, newest first (the menu's "Recent activity").
    #[serde(default)]
    pub recent: Vec<AuditEntry>,
    /// Why the record cannot be kept, when it cannot.
    #[serde(default)]
    pub record_problem: Option<String>,
}

impl AssistanceStatus {
    /// The preconditions that are not met, in words: "name: detail; …"; `None` when all are.
    pub fn missing(&self) -> Option<String> {
        let missing: Vec<String> = self
            .preconditions
            .iter()
            .filter(|precondition| !precondition.ok)
            .map(|precondition| format!("{}: {}", precondition.name, precondition.detail))
            .collect();
        (!missing.is_empty()).then(|| missing.join("; "))
    }
}

/// A remote session: a request the user accepted, until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSession {
    /// The help-desk employee.
    pub help_desk_user: String,
    /// Their organisation.
    pub organisation: String,
    /// When the user accepted (RFC 3339).
    pub started_at: String,
}

/// One precondition of remote assistance (the documents' "Preconditions for remote
/// assistance").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precondition {
    /// `licence-update`, `licence`, `bridge`, `teamviewer` or `proxy`.
    pub name: String,
    /// Whether it is met.
    pub ok: bool,
    /// What is there, or what is missing and what to do.
    pub detail: String,
}

/// A help-desk request waiting for the user's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpRequest {
    /// The back office's identifier.
    pub request_id: String,
    /// Who asks.
    pub help_desk_user: String,
    /// Their organisation.
    pub organisation: String,
    /// What they wrote.
    pub message: String,
    /// When they asked (as the back office said).
    pub requested_at: String,
    /// When no answer becomes a denial (RFC 3339).
    pub answer_by: String,
}

impl HelpRequest {
    /// "<user> of <organisation> asks to connect for remote assistance".
    pub fn sentence(&self) -> String {
        format!(
            "{} of {} asks to connect for remote assistance",
            self.help_desk_user, self.organisation
        )
    }
}

/// The body of `POST /v1/assistance/allow`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowRequest {
    /// How long, 1 to 168 hours; the setting `assistance.hours` (72) when absent.
    #[serde(default)]
    pub hours: Option<u32>,
}

/// The user's answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// Let the help desk connect.
    Allow,
    /// Do not.
    Deny,
}

/// The body of `POST /v1/assistance/requests/{id}/answer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerRequest {
    /// The answer.
    pub answer: Answer,
}

/// One line of the record (`GET /v1/assistance/log`; the file `assistance-log.jsonl` in the
/// data folder, one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What: `allowed`, `revoked`, `expired`, `requested`, `answered`, `session-started`,
    /// `session-ended`, `refused`, `stop-failed`.
    pub event: String,
    /// Until when the allowance lasts (`allowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The help-desk employee (requests, answers, sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_desk_user: Option<String>,
    /// Their organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The TeamViewer ID given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teamviewer_id: Option<String>,
    /// The request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The answer given: `accepted`, `denied`, `no-answer`, `not-allowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Who or what did it, or why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEntry {
    /// An entry of `event` at `at` with nothing else.
    pub fn new(at: impl Into<String>, event: impl Into<String>) -> AuditEntry {
        AuditEntry {
            at: at.into(),
            event: event.into(),
            until: None,
            help_desk_user: None,
            organisation: None,
            teamviewer_id: None,
            request_id: None,
            answer: None,
            detail: None,
        }
    }

    /// The entry in words, without its time ("allowed until …", "Anna of Help Desk Ltd asked
    /// to connect", …); `time` writes a time of the entry as the user reads it.
    pub fn words(&self, time: &dyn Fn(&str) -> String) -> String {
        let who = match (&self.help_desk_user, &self.organisation) {
            (Some(user), Some(organisation)) => format!("{user} of {organisation}"),
            (Some(user), None) => user.clone(),
            _ => "the help desk".to_string(),
        };
        let detail = self
            .detail
            .as_deref()
            .map(|detail| format!(" ({detail})"))
            .unwrap_or_default();
        match self.event.as_str() {
            "allowed" => format!(
                "remote assistance allowed until {}{detail}",
                self.until
                    .as_deref()
                    .map(time)
                    .unwrap_or_else(|| "?".into())
            ),
            "revoked" => format!("remote assistance revoked{detail}"),
            "expired" => format!("remote assistance expired{detail}"),
            "requested" => format!("{who} asked to connect{detail}"),
            "answered" => match self.answer.as_deref() {
                Some("accepted") => format!(
                    "{who} may connect to TeamViewer ID {}",
                    self.teamviewer_id.as_deref().unwrap_or("?")
                ),
                Some("denied") => format!("{who} was denied"),
                Some("no-answer") => format!("{who} had no answer in time"),
                Some("not-allowed") => format!("{who} was told remote assistance is not allowed"),
                other => format!("{who} answered {}", other.unwrap_or("?")),
            },
            "session-started" => format!("remote session with {who} started"),
            "session-ended" => format!("remote session with {who} ended{detail}"),
            "refused" => format!("remote assistance could not be allowed{detail}"),
            "stop-failed" => format!("TeamViewer could not be stopped{detail}"),
            other => format!("{other}{detail}"),
        }
    }
}
