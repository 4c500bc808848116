//! What the back office's handlers share: the database, the installations' sessions and
//! event streams with what each allows of remote assistance, the help-desk sessions, the
//! verified codes, and how it is served.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::response::sse::Event;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc};

use crate::guard::Guard;
use crate::store;

/// Everything the handlers share.
pub struct Backoffice {
    /// The database (one connection; every statement is short).
    pub db: Mutex<store::Store>,
    /// Sessions by token, and which token a serial's session has.
    pub sessions: Mutex<Sessions>,
    /// How often installations send heartbeats.
    pub heartbeat_interval: Duration,
    /// How long an installation waits for its user's answer to an assistance request
    /// before it answers `no-answer` (`answer_within_s` of `assistance-requested`).
    pub answer_within: Duration,
    /// Whether the server speaks TLS (the help desk's cookie is `Secure` then).
    pub tls: bool,
    /// Tells the help-desk pages that something they show changed.
    pub changes: broadcast::Sender<()>,
    /// Wakes the housekeeping that ends allowances at their time: one was reported.
    pub allowance_reported: tokio::sync::Notify,
    /// Help-desk cookie sessions.
    pub helpdesk_sessions: Mutex<HelpdeskSessions>,
    /// Verification codes already checked against their Argon2 hash, keyed by an HMAC
    /// (with a key made at start) of organisation and code: a reconnecting installation
    /// does not cost an Argon2 verification again. In memory only.
    verified: Mutex<std::collections::HashSet<Vec<u8>>>,
    verified_key: ring::hmac::Key,
    /// Lockouts after wrong codes and passwords, and the Argon2 checks: one at a time,
    /// because each takes 19 MiB and tens of milliseconds of CPU, fair between
    /// organisations and users. The first check of a code fills `verified`; the others
    /// waiting behind it then find it there.
    pub guard: Guard,
}

/// The address a request came from (put into each request by the listener).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// The installations' sessions.
#[derive(Default)]
pub struct Sessions {
    pub(crate) by_token: HashMap<String, Session>,
    pub(crate) by_serial: HashMap<String, String>,
}

/// One installation's session.
pub struct Session {
    /// The serial number.
    pub serial: String,
    /// The last heartbeat, or when the event stream opened or closed: the session ends
    /// three heartbeat intervals after it while no event stream is open.
    pub last_activity: Instant,
    /// The licence sequence the installation reported.
    pub licence_sequence: Option<u64>,
    /// The open event stream, if any, with its generation.
    pub(crate) stream: Option<(u64, mpsc::Sender<Event>)>,
    /// When it was last seen (RFC 3339).
    pub last_seen: String,
    /// Whether `last_seen` changed since it was last written to the database.
    pub(crate) last_seen_unsaved: bool,
    /// The sequence of the serial's latest licence, kept here so that a heartbeat does not
    /// touch the database.
    pub(crate) latest_licence: Option<u64>,
    /// Remote assistance as the installation last reported it in this session
    /// (`PUT /v1/assistance`); `None`: not allowed. A new session starts without one.
    pub(crate) allowance: Option<Allowance>,
}

/// Remote assistance allowed on an installation, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// Until when it is allowed.
    pub until: OffsetDateTime,
    /// The TeamViewer ID to connect to, once the installation knows it.
    pub teamviewer_id: Option<String>,
    /// The remote session that is on, if one is.
    pub remote_session: Option<RemoteSession>,
}

/// A remote session on an installation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteSession {
    /// The help-desk employee connected (as the installation wrote it).
    pub help_desk_user: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
}

impl Session {
    /// Whether its event stream is open (it hears of what the back office sends): the
    /// help desk's "VPN".
    pub fn has_stream(&self) -> bool {
        self.stream.is_some()
    }

    /// The allowance in force at `now`: one whose `until` passed counts as none, even
    /// before the installation says so.
    pub fn allowance_at(&self, now: OffsetDateTime) -> Option<&Allowance> {
        self.allowance
            .as_ref()
            .filter(|allowance| allowance.until > now)
    }

    /// The help desk's "RDP": the event stream is open, remote assistance is allowed and
    /// the TeamViewer ID is known, so a request can be sent and accepted.
    pub fn can_assist(&self, now: OffsetDateTime) -> bool {
        self.has_stream()
            && self
                .allowance_at(now)
                .is_some_and(|allowance| allowance.teamviewer_id.is_some())
    }
}

impl Sessions {
    /// The serial's live session.
    pub fn of_serial(&self, serial: &str) -> Option<&Session> {
        self.by_token.get(self.by_serial.get(serial)?)
    }

    /// Sends an event on the serial's stream; false when it has none.
    pub fn send(&self, serial: &str, event: Event) -> bool {
        let Some(session) = self
            .by_serial
            .get(serial)
            .and_then(|token| self.by_token.get(token))
        else {
            return false;
        };
        match &session.stream {
            Some((_, sender)) => sender.try_send(event).is_ok(),
            None => false,
        }
    }

    /// Ends the session of `token`; its stream closes.
    pub(crate) fn remove(&mut self, token: &str) -> Option<Session> {
        let session = self.by_token.remove(token)?;
        if self.by_serial.get(&session.serial).map(String::as_str) == Some(token) {
            self.by_serial.remove(&session.serial);
        }
        Some(session)
    }
}

/// How long a help-desk sign-in lasts without being used.
const HELPDESK_IDLE: Duration = Duration::from_secs(8 * 60 * 60);
/// The most help-desk sign-ins kept at once; the least recently used go first.
const MAX_HELPDESK_SESSIONS: usize = 10_000;

/// The help desk's signed-in browsers, by cookie token: each ends after eight hours unused,
/// and there are never more than [`MAX_HELPDESK_SESSIONS`].
#[derive(Default)]
pub struct HelpdeskSessions {
    by_token: HashMap<String, HelpdeskSession>,
}

struct HelpdeskSession {
    user: String,
    organisation: String,
    used: Instant,
}

impl HelpdeskSessions {
    /// Signs `user` of `organisation` in under `token` at `now`.
    pub fn insert(&mut self, token: String, user: String, organisation: String, now: Instant) {
        self.by_token
            .retain(|_, session| now.duration_since(session.used) < HELPDESK_IDLE);
        while self.by_token.len() >= MAX_HELPDESK_SESSIONS {
            let Some(oldest) = self
                .by_token
                .iter()
                .min_by_key(|(_, session)| session.used)
                .map(|(token, _)| token.clone())
            else {
                break;
            };
            self.by_token.remove(&oldest);
        }
        self.by_token.insert(
            token,
            HelpdeskSession {
                user,
                organisation,
                used: now,
            },
        );
    }

    /// The (user, organisation) signed in under `token`, used at `now`; `None` when there
    /// is none or it lapsed (it is then forgotten).
    pub fn get(&mut self, token: &str, now: Instant) -> Option<(String, String)> {
        let session = self.by_token.get_mut(token)?;
        if now.duration_since(session.used) >= HELPDESK_IDLE {
            self.by_token.remove(token);
            return None;
        }
        session.used = now;
        Some((session.user.clone(), session.organisation.clone()))
    }

    /// Signs `token` out.
    pub fn remove(&mut self, token: &str) {
        self.by_token.remove(token);
    }
}

/// Now, as the protocol writes times.
pub fn now_text() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds")
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A random token: 256 bits, hex.
pub fn random_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Backoffice {
    /// The shared state over the database at `location`; `tls` says whether the server
    /// speaks TLS.
    pub fn new(
        location: &store::Location,
        heartbeat_interval: Duration,
        answer_within: Duration,
        tls: bool,
    ) -> anyhow::Result<Backoffice> {
        let db = store::Store::open(location)?;
        let mut key = [0u8; 32];
        {
            use ring::rand::SecureRandom;
            ring::rand::SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| anyhow::anyhow!("no random source"))?;
        }
        Ok(Backoffice {
            db: Mutex::new(db),
            sessions: Mutex::new(Sessions::default()),
            heartbeat_interval,
            answer_within,
            tls,
            changes: broadcast::channel(16).0,
            allowance_reported: tokio::sync::Notify::new(),
            helpdesk_sessions: Mutex::new(HelpdeskSessions::default()),
            verified: Mutex::new(Default::default()),
            verified_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            guard: Guard::new()?,
        })
    }

    /// How long an installation may read nothing on its event stream before it counts the
    /// back office as silent (`heartbeat_timeout_s`): two and a half intervals, 75 s for
    /// the default 30 s, while keep-alive comments come every half interval.
    pub fn silence_limit_s(&self) -> u64 {
        silence_limit_s(self.heartbeat_interval)
    }

    /// How long a session lives without a heartbeat.
    pub fn session_timeout(&self) -> Duration {
        self.heartbeat_interval * 3
    }

    /// The database.
    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, store::Store> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The installations' sessions.
    pub(crate) fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends the sessions that had neither a heartbeat nor an open event stream for three
    /// heartbeat intervals, and writes down when each was last seen.
    pub fn expire_sessions(&self) {
        let timeout = self.session_timeout();
        let mut sessions = self.sessions();
        let expired: Vec<String> = sessions
            .by_token
            .iter()
            .filter(|(_, session)| {
                session.stream.is_none() && session.last_activity.elapsed() > timeout
            })
            .map(|(token, _)| token.clone())
            .collect();
        let seen: Vec<(String, String)> = expired
            .iter()
            .filter_map(|token| sessions.remove(token))
            .map(|session| (session.serial, session.last_seen))
            .collect();
        drop(sessions);
        if seen.is_empty() {
            return;
        }
        for (serial, _) in &seen {
            tracing::info!("session of {serial} expired");
        }
        if let Err(error) = store::record_last_seen(&mut self.db(), &seen) {
            tracing::warn!("cannot write when installations were last seen: {error:#}");
        }
        let _ = self.changes.send(());
    }

    /// Forgets the allowances whose `until` passed (the installation says so itself when
    /// it ends one; this is for one that cannot), and tells the help-desk pages. Returns
    /// when the next one that remains ends, to wake then.
    pub fn lapse_allowances(&self) -> Option<OffsetDateTime> {
        let now = OffsetDateTime::now_utc();
        let mut lapsed = Vec::new();
        let mut next: Option<OffsetDateTime> = None;
        for session in self.sessions().by_token.values_mut() {
            match session.allowance.as_ref().map(|allowance| allowance.until) {
                Some(until) if until <= now => {
                    session.allowance = None;
                    lapsed.push(session.serial.clone());
                }
                Some(until) => next = Some(next.map_or(until, |next| next.min(until))),
                None => {}
            }
        }
        if lapsed.is_empty() {
            return next;
        }
        for serial in &lapsed {
            tracing::info!("remote assistance on {serial} lapsed: its time ran out");
        }
        let _ = self.changes.send(());
        next
    }

    /// Writes down when the online installations were last seen, those that changed since
    /// the last time: every 30 s, and when the server stops. Heartbeats only touch memory;
    /// this writes a few hundred rows per transaction and lets go of the database between.
    pub fn save_last_seen(&self) {
        let seen: Vec<(String, String)> = self
            .sessions()
            .by_token
            .values_mut()
            .filter(|session| session.last_seen_unsaved)
            .map(|session| {
                session.last_seen_unsaved = false;
                (session.serial.clone(), session.last_seen.clone())
            })
            .collect();
        for chunk in seen.chunks(500) {
            if let Err(error) = store::record_last_seen(&mut self.db(), chunk) {
                tracing::warn!("cannot write when installations were last seen: {error:#}");
            }
        }
    }

    /// Announces licences stored (by `licence issue`, another process) after row `after`,
    /// read from `db` (the watcher's own connection); returns the last row seen.
    pub fn announce_new_licences(&self, db: &mut store::Store, after: i64) -> i64 {
        let licences = match store::licences_after(db, after) {
            Ok(licences) => licences,
            Err(error) => {
                tracing::warn!("cannot read new licences: {error:#}");
                return after;
            }
        };
        let mut last = after;
        let mut sessions = self.sessions();
        for licence in licences {
            last = last.max(licence.row);
            if let Some(session) = sessions
                .by_serial
                .get(&licence.serial)
                .cloned()
                .and_then(|token| sessions.by_token.get_mut(&token))
            {
                session.latest_licence = session.latest_licence.max(Some(licence.sequence));
            }
            let event = licence_available(&licence.serial, &licence.licence_id, licence.sequence);
            if sessions.send(&licence.serial, event) {
                tracing::info!(
                    "announced licence {} to {}",
                    licence.licence_id,
                    licence.serial
                );
            }
        }
        last
    }

    /// Whether `code` is the organisation's verification code: checked against its Argon2
    /// hash once, remembered (as an HMAC) afterwards.
    pub(crate) fn check_code(&self, organisation: &store::Organisation, code: &str) -> bool {
        let tag = ring::hmac::sign(
            &self.verified_key,
            format!(
                "{}\u{0}{}\u{0}{code}",
                organisation.id, organisation.code_hash
            )
            .as_bytes(),
        )
        .as_ref()
        .to_vec();
        let known = || {
            self.verified
                .lock()
                .map(|verified| verified.contains(&tag))
                .unwrap_or(false)
        };
        if known() {
            return true;
        }
        let good = self
            .guard
            .verify(&organisation.id, Some(&organisation.code_hash), code);
        if good {
            if let Ok(mut verified) = self.verified.lock() {
                verified.insert(tag);
            }
        }
        good
    }
}

/// See [`Backoffice::silence_limit_s`].
pub(crate) fn silence_limit_s(heartbeat_interval: Duration) -> u64 {
    (heartbeat_interval.as_secs().max(1) * 5 / 2).max(2)
}

/// The `licence-available` event of a serial's stream.
pub(crate) fn licence_available(serial: &str, licence_id: &str, sequence: u64) -> Event {
    Event::default().event("licence-available").data(
        serde_json::json!({"serial_number": serial, "licence_id": licence_id, "sequence": sequence})
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_desk_sign_ins_lapse_unused_and_are_bounded() {
        let mut sessions = HelpdeskSessions::default();
        let start = Instant::now();
        sessions.insert("a".into(), "anna".into(), "ORG-1".into(), start);
        let later = start + HELPDESK_IDLE / 2;
        assert_eq!(
            sessions.get("a", later),
            Some(("anna".to_string(), "ORG-1".to_string()))
        );
        // Used half way: it lasts from then on.
        assert!(sessions.get("a", later + HELPDESK_IDLE / 2).is_some());
        assert!(sessions.get("a", later + HELPDESK_IDLE * 2).is_none());
        assert!(
            sessions.by_token.is_empty(),
            "a lapsed sign-in is forgotten"
        );
        for index in 0..MAX_HELPDESK_SESSIONS + 5 {
            sessions.insert(
                format!("t{index}"),
                "u".into(),
                "o".into(),
                start + Duration::from_millis(index as u64),
            );
        }
        assert_eq!(sessions.by_token.len(), MAX_HELPDESK_SESSIONS);
        assert!(
            sessions.get("t0", start + Duration::from_secs(1)).is_none(),
            "the oldest went"
        );
    }

    #[test]
    fn the_silence_limit_is_two_and_a_half_intervals() {
        for (interval_s, limit_s) in [(30, 75), (2, 5), (1, 2), (3600, 9000)] {
            assert_eq!(
                silence_limit_s(Duration::from_secs(interval_s)),
                limit_s,
                "{interval_s}"
            );
        }
    }
}
