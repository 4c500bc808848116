//! Remote assistance: the rules the host keeps whatever bridge plugin drives the remote
//! desktop program — the user's consent, the time box, the record, what the back office
//! hears. The TeamViewer bridge plugin only drives TeamViewer (the commands of
//! `remote_service_plugin_api::assistance`).
//!
//! The allowance and the session on are kept in `assistance.json` in the data folder (the
//! one writer), so that they survive a restart of the engine; one that expired while the
//! engine was down is recorded as expired, never revived. Requests waiting for the user's
//! answer are not kept: the help desk sees them unanswered and asks again.

pub mod audit;
pub mod reporter;

use std::path::{Path, PathBuf};

use remote_service_api::{AssistanceStatus, AuditEntry, HelpRequest, Precondition, RemoteSession};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use audit::AuditLog;
use reporter::{Report, Reporter};

use crate::connection::Link;

/// The file of the allowance in the data folder.
pub const STATE_FILE: &str = "assistance.json";

/// The longest the user has to answer a request (the back office may ask for less).
pub const ANSWER_WITHIN: Duration = Duration::minutes(5);

/// How many entries of the record the menu shows.
const RECENT: usize = 5;

/// An allowance in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// Until when.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// The TeamViewer ID.
    pub teamviewer_id: String,
    /// Whether the bridge started TeamViewer's daemon (it stops it at the end).
    pub started_daemon: bool,
    /// Whether the bridge enabled it (it disables it at the end).
    pub enabled_daemon: bool,
    /// What the user must still do by hand.
    #[serde(default)]
    pub steps: Vec<String>,
}

/// A session on: a request the user accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The request.
    pub request_id: String,
    /// Who connects.
    pub help_desk_user: String,
    /// Their organisation.
    pub organisation: String,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

/// What is kept on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    allowance: Option<Allowance>,
    session: Option<Session>,
}

/// A request waiting for the user's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The request as shown.
    pub request: HelpRequest,
    /// When no answer becomes a denial.
    pub deadline: OffsetDateTime,
}

/// What the bridge must undo when assistance ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Undo {
    /// Stop the daemon.
    pub stop_daemon: bool,
    /// Disable it.
    pub disable_daemon: bool,
}

/// The state of remote assistance.
pub struct Assistance {
    folder: PathBuf,
    saved: Saved,
    waiting: Vec<Waiting>,
    log: Result<AuditLog, String>,
    reporter: Reporter,
    /// The record could not be written: said in the status.
    log_problem: Option<String>,
    /// The latest entries, oldest first (read once, then kept as they are written).
    recent: std::collections::VecDeque<AuditEntry>,
}

/// A time as the record and the protocol write it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl Assistance {
    /// Reads what `folder` (the data folder) keeps. An allowance that ended while the engine
    /// was down is recorded as expired and what the bridge started is returned, to undo.
    pub fn open(folder: &Path, now: OffsetDateTime) -> (Assistance, Option<Undo>) {
        let log = AuditLog::open(folder).map_err(|error| {
            format!(
                "cannot open the record of remote assistance in {}: {error}",
                folder.display()
            )
        });
        if let Err(problem) = &log {
            tracing::error!("{problem}");
        }
        let saved = match crate::atomic_file::read_regular(&folder.join(STATE_FILE), 64 * 1024) {
            Ok(bytes) => serde_json::from_slice::<Saved>(&bytes).unwrap_or_else(|error| {
                // Not allowed is the safe reading of a file that does not read.
                tracing::error!(
                    "{} cannot be read ({error}): remote assistance is not allowed until it is allowed again",
                    folder.join(STATE_FILE).display()
                );
                Saved::default()
            }),
            Err(error) if error.is_not_found() => Saved::default(),
            Err(error) => {
                tracing::error!(
                    "cannot read {}: {error}; remote assistance is not allowed until it is allowed again",
                    folder.join(STATE_FILE).display()
                );
                Saved::default()
            }
        };
        let mut assistance = Assistance {
            folder: folder.to_path_buf(),
            saved,
            waiting: Vec::new(),
            log,
            reporter: Reporter::start(),
            log_problem: None,
            recent: Default::default(),
        };
        if let Ok(entries) = assistance.read_log() {
            let skip = entries.len().saturating_sub(RECENT);
            assistance.recent = entries.into_iter().skip(skip).collect();
        }
        let undo = match &assistance.saved.allowance {
            Some(allowance) if allowance.until <= now => {
                let until = allowance.until;
                Some(assistance.end(
                    until,
                    "expired",
                    Some("while Remote Service was not running".into()),
                ))
            }
            _ => None,
        };
        assistance.report_allowance();
        (assistance, undo)
    }

    /// The allowance in force.
    pub fn allowance(&self) -> Option<&Allowance> {
        self.saved.allowance.as_ref()
    }

    /// The session on.
    pub fn session(&self) -> Option<&Session> {
        self.saved.session.as_ref()
    }

    /// The requests waiting for an answer.
    pub fn waiting(&self) -> &[Waiting] {
        &self.waiting
    }

    /// The status, with the preconditions checked by the caller.
    pub fn status(&self, preconditions: Vec<Precondition>) -> AssistanceStatus {
        let allowance = self.allowance();
        let record_problem = match &self.log {
            Err(problem) => Some(problem.clone()),
            Ok(_) => self.log_problem.clone(),
        };
        AssistanceStatus {
            allowed: allowance.is_some(),
            until: allowance.map(|allowance| rfc3339(allowance.until)),
            teamviewer_id: allowance.map(|allowance| allowance.teamviewer_id.clone()),
            session: self.session().map(|session| RemoteSession {
                help_desk_user: session.help_desk_user.clone(),
                organisation: session.organisation.clone(),
                started_at: rfc3339(session.started_at),
            }),
            preconditions,
            requests: self
                .waiting
                .iter()
                .map(|waiting| waiting.request.clone())
                .collect(),
            steps: allowance
                .map(|allowance| allowance.steps.clone())
                .unwrap_or_default(),
            recent: self.recent.iter().rev().cloned().collect(),
            record_problem,
        }
    }

    /// The record, oldest first.
    pub fn read_log(&self) -> Result<Vec<AuditEntry>, String> {
        match &self.log {
            Ok(log) => log
                .read()
                .map_err(|error| format!("cannot read {}: {error}", log.path().display())),
            Err(problem) => Err(problem.clone()),
        }
    }

    fn record(&mut self, entry: AuditEntry) {
        self.recent.push_back(entry.clone());
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
        let written = match &self.log {
            Ok(log) => log
                .append(&entry)
                .map_err(|error| format!("cannot write {}: {error}", log.path().display())),
            Err(problem) => Err(problem.clone()),
        };
        match written {
            Ok(()) => self.log_problem = None,
            Err(problem) => {
                tracing::error!(
                    "{problem}; the entry was: {}",
                    entry.words(&|at| at.to_string())
                );
                self.log_problem = Some(format!("the record is not kept: {problem}"));
            }
        }
    }

    /// Writes the allowance and session; the error says why not (nothing changed then).
    fn save(&self, saved: &Saved) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(saved).map_err(|error| error.to_string())?;
        std::fs::create_dir_all(&self.folder)
            .and_then(|()| {
                crate::atomic_file::write_atomically(
                    &self.folder,
                    STATE_FILE,
                    &bytes,
                    crate::atomic_file::Access::Private,
                )
                .map(|_| ())
                .map_err(std::io::Error::other)
            })
            .map_err(|error| {
                format!(
                    "cannot save {}: {error}",
                    self.folder.join(STATE_FILE).display()
                )
            })
    }

    fn report_allowance(&self) {
        let body = match (&self.saved.allowance, &self.saved.session) {
            (Some(allowance), session) => serde_json::json!({
                "allowed": true,
                "until": rfc3339(allowance.until),
                "teamviewer_id": allowance.teamviewer_id,
                "session": session.as_ref().map(|session| serde_json::json!({
                    "help_desk_user": session.help_desk_user,
                    "started_at": rfc3339(session.started_at),
                })),
            }),
            (None, _) => serde_json::json!({"allowed": false}),
        };
        self.reporter.send(Report::Allowance(body));
    }

    /// A session with the back office is up (or none is).
    pub fn link(&self, link: Option<Link>) {
        self.reporter.send(Report::Link(link));
    }

    /// Puts an allowance in force (the bridge made TeamViewer reachable).
    pub fn allow(&mut self, allowance: Allowance, now: OffsetDateTime) -> Result<(), String> {
        let saved = Saved {
            allowance: Some(allowance.clone()),
            session: self.saved.session.clone(),
        };
        self.save(&saved)?;
        self.saved = saved;
        let mut entry = AuditEntry::new(rfc3339(now), "allowed");
        entry.until = Some(rfc3339(allowance.until));
        entry.teamviewer_id = Some(allowance.teamviewer_id.clone());
        self.record(entry);
        self.report_allowance();
        Ok(())
    }

    /// Records that the bridge could not stop what it started (TeamViewer's daemon may
    /// still run).
    pub fn stop_failed(&mut self, why: &str, now: OffsetDateTime) {
        let mut entry = AuditEntry::new(rfc3339(now), "stop-failed");
        entry.detail = Some(why.to_string());
        self.record(entry);
    }

    /// Records that allowing failed.
    pub fn refused(&mut self, why: &str, now: OffsetDateTime) {
        let mut entry = AuditEntry::new(rfc3339(now), "refused");
        entry.detail = Some(why.to_string());
        self.record(entry);
    }

    /// Ends the allowance (`revoked` or `expired`) with its session and waiting requests;
    /// returns what the bridge must undo.
    pub fn end(&mut self, now: OffsetDateTime, event: &str, detail: Option<String>) -> Undo {
        let Some(allowance) = self.saved.allowance.clone() else {
            return Undo::default();
        };
        let undo = Undo {
            stop_daemon: allowance.started_daemon,
            disable_daemon: allowance.enabled_daemon,
        };
        if let Err(problem) = self.save(&Saved::default()) {
            // It ends all the same: an allowance that cannot be ended would be worse. At
            // the next start the file is read again, and an ended allowance has expired by
            // then or is ended again.
            tracing::error!("{problem}");
        }
        self.end_session(now, Some(format!("remote assistance {event}")));
        self.saved = Saved::default();
        let mut entry = AuditEntry::new(rfc3339(now), event);
        entry.detail = detail;
        entry.teamviewer_id = Some(allowance.teamviewer_id);
        self.record(entry);
        for waiting in std::mem::take(&mut self.waiting) {
            self.answer(&waiting.request, "not-allowed", None, now);
        }
        self.report_allowance();
        undo
    }

    /// Ends the session on, if any; the allowance stays. Returns what the bridge must undo:
    /// the daemon it started.
    pub fn end_session(&mut self, now: OffsetDateTime, detail: Option<String>) -> Option<Undo> {
        let session = self.saved.session.take()?;
        let mut entry = AuditEntry::new(rfc3339(now), "session-ended");
        entry.help_desk_user = Some(session.help_desk_user);
        entry.organisation = Some(session.organisation);
        entry.request_id = Some(session.request_id);
        entry.detail = detail;
        let undo = self.saved.allowance.as_mut().map(|allowance| {
            let undo = Undo {
                stop_daemon: allowance.started_daemon,
                disable_daemon: false,
            };
            // Stopped now: started again for the next session.
            allowance.started_daemon = false;
            undo
        });
        if let Err(problem) = self.save(&self.saved.clone()) {
            tracing::error!("{problem}");
        }
        entry.teamviewer_id = self
            .saved
            .allowance
            .as_ref()
            .map(|allowance| allowance.teamviewer_id.clone());
        self.record(entry);
        self.report_allowance();
        undo
    }

    /// A request arrived. While allowed it waits for the user (true); otherwise it is
    /// answered "not allowed" at once (false).
    pub fn requested(
        &mut self,
        request: HelpRequest,
        answer_within: Duration,
        now: OffsetDateTime,
    ) -> bool {
        let mut entry = AuditEntry::new(rfc3339(now), "requested");
        entry.help_desk_user = Some(request.help_desk_user.clone());
        entry.organisation = Some(request.organisation.clone());
        entry.request_id = Some(request.request_id.clone());
        entry.detail = (!request.message.is_empty()).then(|| request.message.clone());
        self.record(entry);
        if self.saved.allowance.is_none() {
            self.answer(&request, "not-allowed", None, now);
            return false;
        }
        let deadline = now + answer_within.clamp(Duration::seconds(1), ANSWER_WITHIN);
        let mut request = request;
        request.answer_by = rfc3339(deadline);
        self.waiting
            .retain(|waiting| waiting.request.request_id != request.request_id);
        self.waiting.push(Waiting { request, deadline });
        true
    }

    /// The waiting request `request_id`.
    pub fn waiting_request(&self, request_id: &str) -> Option<&HelpRequest> {
        self.waiting
            .iter()
            .find(|waiting| waiting.request.request_id == request_id)
            .map(|waiting| &waiting.request)
    }

    /// The user denied the request (or did not answer in time: `no-answer`).
    pub fn deny(&mut self, request_id: &str, answer: &str, now: OffsetDateTime) -> bool {
        let Some(at) = self
            .waiting
            .iter()
            .position(|waiting| waiting.request.request_id == request_id)
        else {
            return false;
        };
        let waiting = self.waiting.remove(at);
        self.answer(&waiting.request, answer, None, now);
        true
    }

    /// The user accepted the request and the bridge made TeamViewer reachable (`started`:
    /// whether it started the daemon for this): the session is on.
    pub fn accept(
        &mut self,
        request_id: &str,
        started_daemon: bool,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        let Some(at) = self
            .waiting
            .iter()
            .position(|waiting| waiting.request.request_id == request_id)
        else {
            return Err(format!("no request {request_id} waits for an answer"));
        };
        let Some(mut allowance) = self.saved.allowance.clone() else {
            return Err("remote assistance is not allowed".into());
        };
        // One session at a time: a new one ends the one before.
        self.end_session(now, Some("another request was accepted".into()));
        let waiting = self.waiting.remove(at);
        allowance.started_daemon |= started_daemon;
        let session = Session {
            request_id: request_id.to_string(),
            help_desk_user: waiting.request.help_desk_user.clone(),
            organisation: waiting.request.organisation.clone(),
            started_at: now,
        };
        let saved = Saved {
            allowance: Some(allowance.clone()),
            session: Some(session),
        };
        if let Err(problem) = self.save(&saved) {
            self.waiting.insert(at, waiting);
            return Err(problem);
        }
        self.saved = saved;
        self.answer(&waiting.request, "accepted", Some(&allowance), now);
        let mut entry = AuditEntry::new(rfc3339(now), "session-started");
        entry.help_desk_user = Some(waiting.request.help_desk_user.clone());
        entry.organisation = Some(waiting.request.organisation.clone());
        entry.request_id = Some(request_id.to_string());
        entry.teamviewer_id = Some(allowance.teamviewer_id.clone());
        self.record(entry);
        self.report_allowance();
        Ok(())
    }

    fn answer(
        &mut self,
        request: &HelpRequest,
        answer: &str,
        accepted: Option<&Allowance>,
        now: OffsetDateTime,
    ) {
        let mut entry = AuditEntry::new(rfc3339(now), "answered");
        entry.help_desk_user = Some(request.help_desk_user.clone());
        entry.organisation = Some(request.organisation.clone());
        entry.request_id = Some(request.request_id.clone());
        entry.answer = Some(answer.to_string());
        let body = match accepted {
            Some(allowance) => {
                entry.teamviewer_id = Some(allowance.teamviewer_id.clone());
                serde_json::json!({
                    "answer": answer,
                    "teamviewer_id": allowance.teamviewer_id,
                    "until": rfc3339(allowance.until),
                })
            }
            None => serde_json::json!({"answer": answer}),
        };
        self.record(entry);
        self.reporter.send(Report::Answer {
            request_id: request.request_id.clone(),
            body,
        });
    }

    /// The next moment something ends by itself: the allowance, or a request's time to
    /// answer.
    pub fn next_deadline(&self) -> Option<OffsetDateTime> {
        let allowance = self
            .saved
            .allowance
            .as_ref()
            .map(|allowance| allowance.until);
        let requests = self.waiting.iter().map(|waiting| waiting.deadline).min();
        allowance.into_iter().chain(requests).min()
    }

    /// Ends what is due at `now`: returns what the bridge must undo when the allowance
    /// expired.
    pub fn tick(&mut self, now: OffsetDateTime) -> Option<Undo> {
        let due: Vec<String> = self
            .waiting
            .iter()
            .filter(|waiting| waiting.deadline <= now)
            .map(|waiting| waiting.request.request_id.clone())
            .collect();
        for request_id in due {
            self.deny(&request_id, "no-answer", now);
        }
        let expired = self
            .saved
            .allowance
            .as_ref()
            .is_some_and(|allowance| allowance.until <= now);
        expired.then(|| self.end(now, "expired", None))
    }
}

#[cfg(test)]
mod tests;
