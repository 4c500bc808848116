//! The test desktop's notification server: owns `org.freedesktop.Notifications`, records
//! every `Notify` call and answers as a server of the Desktop Notifications specification
//! (version 1.2) does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};

/// Where the server is served.
pub(super) const PATH: &str = "/org/freedesktop/Notifications";
/// Its well-known name and interface.
pub(super) const NAME: &str = "org.freedesktop.Notifications";

/// `NotificationClosed` reasons of the specification.
pub(super) const CLOSED_BY_USER: u32 = 2;
const CLOSED_BY_CALL: u32 = 3;

/// A notification as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The id the server gave it.
    pub id: u32,
    /// The application's name.
    pub app_name: String,
    /// The notification it replaces (0 for none).
    pub replaces_id: u32,
    /// The application's icon (a name or a `file://` URI), usually empty.
    pub app_icon: String,
    /// The title.
    pub summary: String,
    /// The text.
    pub body: String,
    /// Buttons: (key, label).
    pub actions: Vec<(String, String)>,
    /// The urgency hint: 0 low, 1 normal, 2 critical.
    pub urgency: Option<u8>,
    /// Every hint, its value as text: strings as they are, numbers and booleans in decimal
    /// and `true`/`false`, other values in GVariant text form.
    pub hints: BTreeMap<String, String>,
    /// How long it shows, in milliseconds (-1: the server decides, 0: never expires).
    pub expire_timeout: i32,
}

/// What the server has seen.
#[derive(Default)]
pub(super) struct Record {
    pub(super) notifications: Vec<Notification>,
    /// Ids of the notifications closed, in order, each once.
    pub(super) closed: Vec<u32>,
    last_id: u32,
}

impl Record {
    /// Marks `id` closed; false if it was already (a server announces a closing once).
    pub(super) fn close(&mut self, id: u32) -> bool {
        let known = self.notifications.iter().any(|notice| notice.id == id);
        if !known || self.closed.contains(&id) {
            return false;
        }
        self.closed.push(id);
        true
    }
}

pub(super) struct Server {
    pub(super) record: Arc<Mutex<Record>>,
}

fn hint_text(value: &Value<'_>) -> String {
    match value {
        Value::Str(text) => text.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::U8(number) => number.to_string(),
        Value::I16(number) => number.to_string(),
        Value::U16(number) => number.to_string(),
        Value::I32(number) => number.to_string(),
        Value::U32(number) => number.to_string(),
        Value::I64(number) => number.to_string(),
        Value::U64(number) => number.to_string(),
        Value::Value(inner) => hint_text(inner),
        other => other.to_string(),
    }
}

/// The urgency hint is a byte; some senders send a wider integer.
fn urgency(value: &Value<'_>) -> Option<u8> {
    match value {
        Value::U8(number) => Some(*number),
        Value::I32(number) => u8::try_from(*number).ok(),
        Value::U32(number) => u8::try_from(*number).ok(),
        Value::Value(inner) => urgency(inner),
        _ => None,
    }
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let mut record = self.record.lock().unwrap();
        let replaces_known = replaces_id != 0
            && record
                .notifications
                .iter()
                .any(|notice| notice.id == replaces_id);
        let id = if replaces_known {
            replaces_id
        } else {
            record.last_id += 1;
            record.last_id
        };
        let actions = actions
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default()))
            .collect();
        record.notifications.push(Notification {
            id,
            app_name,
            replaces_id,
            app_icon,
            summary,
            body,
            actions,
            urgency: hints.get("urgency").and_then(|value| urgency(value)),
            hints: hints
                .iter()
                .map(|(key, value)| (key.clone(), hint_text(value)))
                .collect(),
            expire_timeout,
        });
        id
    }

    async fn close_notification(
        &self,
        id: u32,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let newly_closed = self.record.lock().unwrap().close(id);
        if newly_closed {
            Server::notification_closed(&emitter, id, CLOSED_BY_CALL).await?;
        }
        Ok(())
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "remote-service-test-desktop".into(),
            "remote-service".into(),
            "1.0".into(),
            "1.2".into(),
        )
    }

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;
}
