//! What the back office's handlers share: the database (which holds the sessions, which
//! node holds each event stream, what each allows of remote assistance, and the help-desk
//! sign-ins, so that any node serves any request), the event streams this node holds, the
//! heartbeats not yet written, the verified codes, and how it is served.
//!
//! Nodes tell each other what happened through [`Message`]s: on PostgreSQL with
//! `NOTIFY remote_service_backoffice` (every node `LISTEN`s), on SQLite (one node) within
//! the process only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::response::sse::Event;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc};

use crate::guard::Guard;
use crate::store::{self, sessions::Activity, sessions::SessionRow};

/// How many connections a node opens to PostgreSQL for its requests (besides the tick's
/// and the listener's).
const POSTGRES_REQUEST_CONNECTIONS: usize = 4;

/// The PostgreSQL channel the nodes tell each other on.
pub const CHANNEL: &str = "remote_service_backoffice";

/// Everything the handlers share.
pub struct Backoffice {
    /// The database, for the requests (every statement is short): on PostgreSQL a few
    /// connections, each request taking one that is free, so that a burst (a lost node's
    /// installations opening their streams here) is not served one statement at a time;
    /// on SQLite one, its only writer.
    db: Vec<Mutex<store::Store>>,
    /// Which request connection a request waits for when none is free.
    next_db: std::sync::atomic::AtomicUsize,
    /// A second connection for the tick's work (the heartbeats' batch, the lease, idle
    /// sessions), so that requests never queue behind it.
    housekeeping: Mutex<store::Store>,
    /// This node's name in the database (random, new at each start).
    pub node: String,
    /// Where this node listens, recorded with its lease (for an operator reading `nodes`).
    pub address: Mutex<String>,
    /// The event streams this node holds, by serial.
    streams: Mutex<HashMap<String, LocalStream>>,
    /// What heartbeats said since the last batch was written, by session token hash.
    activity: Mutex<HashMap<String, Activity>>,
    /// How often installations send heartbeats.
    pub heartbeat_interval: Duration,
    /// How long an installation waits for its user's answer to an assistance request
    /// before it answers `no-answer` (`answer_within_s` of `assistance-requested`).
    pub answer_within: Duration,
    /// Whether the server speaks TLS (the help desk's cookie is `Secure` then).
    pub tls: bool,
    /// Tells the help-desk pages this node serves that something they show changed.
    pub changes: broadcast::Sender<()>,
    /// Wakes the housekeeping that ends allowances at their time: one was reported.
    pub allowance_reported: tokio::sync::Notify,
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

/// An event stream this node holds.
pub(crate) struct LocalStream {
    /// The session's token hash.
    pub(crate) token_hash: String,
    /// The stream's own random id (recorded with the session).
    pub(crate) stream_id: String,
    /// Boxed: a channel allocates its slots 32 at a time, for every held stream.
    pub(crate) sender: mpsc::Sender<Box<Event>>,
}

/// What one node tells the others (and itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Message {
    /// Something the help-desk pages show changed.
    Changed,
    /// Licences were stored (sent by the database's trigger).
    Licence,
    /// A help desk asked `serial` for assistance: the node holding its stream sends it.
    Assistance { serial: String, request_id: String },
    /// The session `token_hash` of `serial` ended: its stream closes.
    SessionEnded { serial: String, token_hash: String },
    /// A stream for `serial` opened: any other stream of the serial closes.
    StreamOpened { serial: String, stream_id: String },
}

/// A [`Message`] with the node that sent it.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    origin: String,
    #[serde(flatten)]
    message: Message,
}

/// The address a request came from (put into each request by the listener).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

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

/// The allowance of a stored session in force at `now_ms`: one whose `until` passed
/// counts as none, even before the installation says so.
pub fn allowance_of(session: &SessionRow, now_ms: i64) -> Option<Allowance> {
    let until_ms = session.allowed_until_ms.filter(|until| *until > now_ms)?;
    Some(Allowance {
        until: from_ms(until_ms),
        teamviewer_id: session.teamviewer_id.clone(),
        remote_session: session
            .remote_session
            .clone()
            .map(|(help_desk_user, started_at)| RemoteSession {
                help_desk_user,
                started_at,
            }),
    })
}

/// The help desk's "RDP": the event stream is open, remote assistance is allowed and the
/// TeamViewer ID is known, so a request can be sent and accepted.
pub fn can_assist(session: &SessionRow, now_ms: i64) -> bool {
    session.has_stream
        && allowance_of(session, now_ms).is_some_and(|allowance| allowance.teamviewer_id.is_some())
}

/// How long a help-desk sign-in lasts without being used.
pub const HELPDESK_IDLE: Duration = Duration::from_secs(8 * 60 * 60);
/// The most help-desk sign-ins kept at once; the least recently used go first.
pub const MAX_HELPDESK_SESSIONS: i64 = 10_000;

/// Now, in milliseconds since 1970.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A time in milliseconds since 1970.
pub fn to_ms(time: OffsetDateTime) -> i64 {
    (time.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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
    /// speaks TLS. On SQLite (one node) the sessions and sign-ins of the last run end.
    pub fn new(
        location: &store::Location,
        heartbeat_interval: Duration,
        answer_within: Duration,
        tls: bool,
    ) -> anyhow::Result<Backoffice> {
        let mut db = store::Store::open(location)?;
        if db.kind() == store::Kind::Sqlite {
            store::sessions::forget_all(&mut db)?;
        }
        let housekeeping = store::Store::open(location)?;
        let mut connections = vec![Mutex::new(db)];
        if matches!(location, store::Location::Postgres { .. }) {
            for _ in 1..POSTGRES_REQUEST_CONNECTIONS {
                connections.push(Mutex::new(store::Store::open(location)?));
            }
        }
        let mut key = [0u8; 32];
        {
            use ring::rand::SecureRandom;
            ring::rand::SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| anyhow::anyhow!("no random source"))?;
        }
        Ok(Backoffice {
            db: connections,
            next_db: Default::default(),
            housekeeping: Mutex::new(housekeeping),
            node: random_token()[..12].to_string(),
            address: Mutex::new(String::new()),
            streams: Mutex::new(HashMap::new()),
            activity: Mutex::new(HashMap::new()),
            heartbeat_interval,
            answer_within,
            tls,
            changes: broadcast::channel(16).0,
            allowance_reported: tokio::sync::Notify::new(),
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

    /// How often this node writes its heartbeats' batch, renews its lease and ends idle
    /// sessions: half a heartbeat interval, between a quarter of a second and 5 s.
    pub fn tick(&self) -> Duration {
        (self.heartbeat_interval / 2).clamp(Duration::from_millis(250), Duration::from_secs(5))
    }

    /// How long this node's lease lasts after each renewal: three ticks, so that one late
    /// renewal does not count its streams as closed.
    pub fn lease(&self) -> Duration {
        self.tick() * 3
    }

    /// The database.
    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, store::Store> {
        use std::sync::TryLockError;
        for connection in &self.db {
            match connection.try_lock() {
                Ok(free) => return free,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let next = self
            .next_db
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.db[next % self.db.len()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The tick's own connection to the database.
    fn housekeeping(&self) -> std::sync::MutexGuard<'_, store::Store> {
        self.housekeeping
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The event streams this node holds.
    pub(crate) fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalStream>> {
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What heartbeats said since the last batch.
    pub(crate) fn activity(&self) -> std::sync::MutexGuard<'_, HashMap<String, Activity>> {
        self.activity
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends an event on the serial's stream if this node holds it; false when it does not.
    pub fn send_local(&self, serial: &str, event: Event) -> bool {
        match self.streams().get(serial) {
            Some(stream) => stream.sender.try_send(Box::new(event)).is_ok(),
            None => false,
        }
    }

    /// Tells every node (this one at once, the others through PostgreSQL) that `message`
    /// happened; called after what it says is committed.
    pub fn publish(&self, message: Message) {
        self.deliver(&message);
        let mut db = self.db();
        if db.kind() != store::Kind::Postgres {
            return;
        }
        let payload = serde_json::to_string(&Envelope {
            origin: self.node.clone(),
            message,
        })
        .unwrap_or_default();
        if let Err(error) = db.execute("SELECT pg_notify(?1, ?2)", &[&CHANNEL, &payload]) {
            tracing::warn!("cannot tell the other nodes: {error:#}");
        }
    }

    /// A notification's payload from the channel: delivered unless this node sent it
    /// (it was delivered when it was published). Returns the message.
    pub fn received(&self, payload: &str) -> Option<Message> {
        let envelope: Envelope = match serde_json::from_str(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!("a notification that is not ours: {error}");
                return None;
            }
        };
        if envelope.origin != self.node {
            self.deliver(&envelope.message);
        }
        Some(envelope.message)
    }

    /// Acts on a message on this node.
    fn deliver(&self, message: &Message) {
        match message {
            Message::Changed => {
                self.allowance_reported.notify_one();
            }
            // The watcher reads the new licence rows itself.
            Message::Licence => return,
            Message::Assistance { serial, request_id } => {
                if self.streams().contains_key(serial) {
                    match self.assistance_event(request_id) {
                        Ok(Some(event)) => {
                            if self.send_local(serial, event) {
                                tracing::info!("sent assistance request {request_id} to {serial}");
                            }
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!("cannot read assistance request {request_id}: {error:#}")
                        }
                    }
                }
                return;
            }
            Message::SessionEnded { serial, token_hash } => {
                let mut streams = self.streams();
                if streams
                    .get(serial)
                    .is_some_and(|stream| &stream.token_hash == token_hash)
                {
                    // Its sender goes: the stream closes.
                    streams.remove(serial);
                }
            }
            Message::StreamOpened { serial, stream_id } => {
                let mut streams = self.streams();
                if streams
                    .get(serial)
                    .is_some_and(|stream| &stream.stream_id != stream_id)
                {
                    streams.remove(serial);
                }
            }
        }
        let _ = self.changes.send(());
    }

    /// The `assistance-requested` event of a stored request.
    pub(crate) fn assistance_event(&self, request_id: &str) -> anyhow::Result<Option<Event>> {
        let mut db = self.db();
        let Some(request) = store::assistance(&mut db, request_id)? else {
            return Ok(None);
        };
        let organisation = store::serial(&mut db, &request.serial)?
            .map(|serial| serial.organisation_id)
            .unwrap_or_default();
        let organisation_name = store::organisation(&mut db, &organisation)?
            .map(|organisation| organisation.name)
            .unwrap_or(organisation);
        drop(db);
        Ok(Some(
            Event::default().event("assistance-requested").data(
                serde_json::json!({
                    "request_id": request.request_id,
                    "help_desk_user": request.help_desk_user,
                    "organisation": organisation_name,
                    "message": request.message,
                    "requested_at": request.requested_at,
                    "answer_within_s": self.answer_within.as_secs(),
                })
                .to_string(),
            ),
        ))
    }

    /// Renews this node's lease: the streams it holds count as open until it runs out.
    pub fn renew_lease(&self) {
        let address = self.address.lock().map(|a| a.clone()).unwrap_or_default();
        let until = now_ms() + self.lease().as_millis() as i64;
        if let Err(error) =
            store::sessions::renew_node(&mut self.housekeeping(), &self.node, &address, until)
        {
            tracing::warn!("cannot renew this node's lease: {error:#}");
        }
    }

    /// Ends the sessions that had neither a heartbeat nor an open event stream (held by a
    /// live node) for three heartbeat intervals, and writes down when each was last seen;
    /// forgets wrong attempts older than an hour.
    pub fn expire_sessions(&self) {
        self.save_last_seen();
        if let Err(error) = self.guard.forget_old(&mut self.housekeeping()) {
            tracing::warn!("cannot forget old wrong attempts: {error:#}");
        }
        let now = now_ms();
        let idle_before = now - self.session_timeout().as_millis() as i64;
        let expired =
            match store::sessions::expire_sessions(&mut self.housekeeping(), idle_before, now) {
                Ok(expired) => expired,
                Err(error) => {
                    tracing::warn!("cannot end idle sessions: {error:#}");
                    return;
                }
            };
        if expired.is_empty() {
            return;
        }
        for (serial, _) in &expired {
            tracing::info!("session of {serial} expired");
        }
        self.publish(Message::Changed);
    }

    /// Forgets the allowances whose `until` passed (the installation says so itself when
    /// it ends one; this is for one that cannot), and tells the help-desk pages. Returns
    /// when the next one that remains ends, to wake then.
    pub fn lapse_allowances(&self) -> Option<OffsetDateTime> {
        let now = now_ms();
        let lapsed =
            store::sessions::lapse_allowances(&mut self.db(), now).unwrap_or_else(|error| {
                tracing::warn!("cannot end lapsed allowances: {error:#}");
                Vec::new()
            });
        for serial in &lapsed {
            tracing::info!("remote assistance on {serial} lapsed: its time ran out");
        }
        if !lapsed.is_empty() {
            self.publish(Message::Changed);
        }
        store::sessions::next_allowance_end(&mut self.db(), now)
            .ok()
            .flatten()
            .map(from_ms)
    }

    /// Writes down what the heartbeats said since the last time (last seen, the licence
    /// sequence reported): every tick, and when the server stops. Heartbeats only touch
    /// memory; this writes 1,000 at a time (two statements, one transaction) on the tick's
    /// own connection.
    pub fn save_last_seen(&self) {
        // Taken before the batch and held until it is written: a stop that saves at the
        // same time as a tick waits for the tick's batch to be in the database.
        let mut db = self.housekeeping();
        let batch: Vec<Activity> = self
            .activity()
            .drain()
            .map(|(_, activity)| activity)
            .collect();
        for chunk in batch.chunks(1000) {
            if let Err(error) = store::sessions::record_activity(&mut db, chunk) {
                tracing::warn!(
                    "cannot write when installations were last seen, keeping it for the next \
                     tick: {error:#}"
                );
                self.keep_unwritten(chunk);
            }
        }
    }

    /// Puts back a batch the database refused, under what heartbeats said since.
    fn keep_unwritten(&self, chunk: &[Activity]) {
        let mut activity = self.activity();
        for old in chunk {
            let kept = activity
                .entry(old.token_hash.clone())
                .or_insert_with(|| old.clone());
            kept.licence_sequence = kept.licence_sequence.or(old.licence_sequence);
        }
    }

    /// This node stops: what its heartbeats said is written, the streams it held are
    /// recorded closed, and its lease goes.
    pub fn leave(&self) {
        self.save_last_seen();
        if let Err(error) =
            store::sessions::leave(&mut self.housekeeping(), &self.node, &now_text(), now_ms())
        {
            tracing::warn!("cannot record this node's streams closed: {error:#}");
        }
        self.streams().clear();
        self.publish(Message::Changed);
    }

    /// Announces licences stored (by `licence issue`, another process) after row `after`,
    /// read from `db` (the watcher's own connection), on the streams this node holds;
    /// returns the last row seen, or the error (the caller says it, rate-limited).
    pub fn announce_new_licences(&self, db: &mut store::Store, after: i64) -> anyhow::Result<i64> {
        let licences = store::licences_after(db, after)?;
        let mut last = after;
        for licence in licences {
            last = last.max(licence.row);
            let event = licence_available(&licence.serial, &licence.licence_id, licence.sequence);
            if self.send_local(&licence.serial, event) {
                tracing::info!(
                    "announced licence {} to {}",
                    licence.licence_id,
                    licence.serial
                );
            }
        }
        Ok(last)
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
        let good =
            self.guard
                .verify_unless(&organisation.id, Some(&organisation.code_hash), code, known);
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
    fn messages_between_nodes_read_back_as_sent_and_the_trigger_payload_is_one() {
        for message in [
            Message::Changed,
            Message::Licence,
            Message::Assistance {
                serial: "SN-1".into(),
                request_id: "9f2c".into(),
            },
            Message::SessionEnded {
                serial: "SN-1".into(),
                token_hash: "ab".into(),
            },
            Message::StreamOpened {
                serial: "SN-1".into(),
                stream_id: "cd".into(),
            },
        ] {
            let text = serde_json::to_string(&Envelope {
                origin: "n1".into(),
                message: message.clone(),
            })
            .unwrap();
            let read: Envelope = serde_json::from_str(&text).unwrap();
            assert_eq!(
                (read.origin.as_str(), read.message),
                ("n1", message),
                "{text}"
            );
        }
        // What the licences table's trigger sends (migration 2).
        let read: Envelope =
            serde_json::from_str(r#"{"origin":"database","kind":"licence"}"#).unwrap();
        assert_eq!(read.message, Message::Licence);
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
