//! Notices on the desktop (freedesktop notifications, spoken over the session bus with
//! zbus), rate-limited and merged: a notice repeated within a minute replaces the one
//! shown, with a count, instead of raising a new balloon.
//!
//! One connection shows every notice and hears every answer: it subscribes to the server's
//! `ActionInvoked` and `NotificationClosed` before the first notice is shown, so a button
//! clicked the moment the balloon appears is heard (a listener added after `Notify`, as
//! one connection per notice does, misses it), and a server that sends its signals only to
//! the connection that asked is heard too.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use remote_service_api::Urgency;
use zbus::blocking::{Connection, MessageIterator};
use zbus::zvariant::Value;
use zbus::MatchRule;

/// Repeats closer together than this are merged into the notice shown.
const MERGE_WINDOW: Duration = Duration::from_secs(60);

/// The application name notification servers show.
pub const APP_NAME: &str = "Remote Service";

/// The notification server's name, object and interface (Desktop Notifications 1.2).
const SERVER: &str = "org.freedesktop.Notifications";
const SERVER_PATH: &str = "/org/freedesktop/Notifications";

/// Answers heard for notices not yet registered (the server answered before `Notify`
/// returned here): at most this many are kept.
const EARLY_ANSWERS: usize = 64;

struct Shown {
    id: u32,
    at: Instant,
    count: u32,
}

/// The notices shown so far, by key.
#[derive(Default)]
pub struct Notices {
    shown: HashMap<String, Shown>,
    /// The session bus, connected at the first notice.
    bus: Option<Bus>,
}

impl Notices {
    /// Shows a notice; one with the same `key` shown less than a minute ago is replaced
    /// and counted instead.
    pub fn show(&mut self, key: &str, summary: &str, body: &str, urgency: Urgency) {
        self.ask(key, summary, body, urgency, &[], |_| {});
    }

    /// Shows a notice with buttons (`actions`: id and label); `answered` gets the id of the
    /// button the user clicked, on a thread of its own. A notice with buttons is a question
    /// and is never merged into another.
    pub fn ask(
        &mut self,
        key: &str,
        summary: &str,
        body: &str,
        urgency: Urgency,
        actions: &[(String, String)],
        answered: impl FnOnce(String) + Send + 'static,
    ) {
        let now = Instant::now();
        let previous = self
            .shown
            .get(key)
            .filter(|shown| actions.is_empty() && now.duration_since(shown.at) < MERGE_WINDOW);
        let count = previous.map_or(1, |shown| shown.count + 1);
        let summary = if count > 1 {
            format!("{summary} ({count} times)")
        } else {
            summary.to_string()
        };
        if self.bus.is_none() {
            match Bus::connect() {
                Ok(bus) => self.bus = Some(bus),
                Err(error) => {
                    tracing::warn!("cannot show the notice {summary:?}: {error}");
                    return;
                }
            }
        }
        let Some(bus) = &self.bus else { return };
        let replaces = previous.map_or(0, |shown| shown.id);
        match bus.notify(replaces, &summary, body, actions, urgency) {
            Ok(id) => {
                let at = previous.map_or(now, |shown| shown.at);
                self.shown.insert(key.to_string(), Shown { id, at, count });
                if !actions.is_empty() {
                    bus.wait_for_answer(id, Box::new(answered));
                }
            }
            Err(error) => tracing::warn!("cannot show the notice {summary:?}: {error}"),
        }
    }
}

impl Notices {
    /// Closes the notice shown with `key`, if any (a question answered elsewhere).
    pub fn close(&mut self, key: &str) {
        let (Some(shown), Some(bus)) = (self.shown.remove(key), &self.bus) else {
            return;
        };
        let closed = bus.connection.call_method(
            Some(SERVER),
            SERVER_PATH,
            Some(SERVER),
            "CloseNotification",
            &(shown.id,),
        );
        if let Err(error) = closed {
            tracing::warn!("cannot close the notice {key:?}: {error}");
        }
    }
}

/// `text` with its first letter in upper case when it starts with a word ("connection
/// refused…"); a file name, a path or a number stays as it is ("garbage.lic: …").
fn capitalised(text: &str) -> String {
    let first_word = text.split([' ', ':', ',']).next().unwrap_or_default();
    if first_word.is_empty()
        || !first_word
            .chars()
            .all(|c| c.is_alphabetic() && c.is_lowercase())
    {
        return text.to_string();
    }
    remote_service_api::capitalised(text)
}

/// The product's icon as the specification's `image-data` hint: width, height, row
/// stride, alpha, bits per sample, channels, the RGBA bytes.
fn image_hint() -> Option<Value<'static>> {
    let (rgba, width, height) = super::IconState::Connected.rgba().ok()?;
    let (width, height) = (i32::try_from(width).ok()?, i32::try_from(height).ok()?);
    Some(Value::from((
        width,
        height,
        width * 4,
        true,
        8i32,
        4i32,
        rgba,
    )))
}

type Answer = Box<dyn FnOnce(String) + Send>;

/// The questions waiting for their answer, and answers that came first.
#[derive(Default)]
struct Waiting {
    answers: HashMap<u32, Answer>,
    /// (id, the button, or `None` when the notice was closed without one).
    early: VecDeque<(u32, Option<String>)>,
}

impl Waiting {
    /// The server said what became of notice `id`: the answer to give, if someone waits
    /// for it and a button was clicked.
    fn heard(&mut self, id: u32, action: Option<String>) -> Option<(Answer, String)> {
        match self.answers.remove(&id) {
            Some(answer) => action.map(|action| (answer, action)),
            None => {
                if self.early.len() == EARLY_ANSWERS {
                    self.early.pop_front();
                }
                self.early.push_back((id, action));
                None
            }
        }
    }

    /// `answer` waits for notice `id`; given back at once with the button if the server
    /// answered already.
    fn wait(&mut self, id: u32, answer: Answer) -> Option<(Answer, String)> {
        match self.early.iter().position(|(early, _)| *early == id) {
            Some(index) => {
                let (_, action) = self.early.remove(index)?;
                action.map(|action| (answer, action))
            }
            None => {
                self.answers.insert(id, answer);
                None
            }
        }
    }
}

/// The connection to the notification server.
struct Bus {
    connection: Connection,
    waiting: Arc<Mutex<Waiting>>,
    /// The server shows markup in bodies (`body-markup`): text must be escaped for it.
    markup: bool,
    /// The product's icon, made once.
    image: Option<Value<'static>>,
}

impl Bus {
    fn connect() -> zbus::Result<Bus> {
        let connection = Connection::session()?;
        let rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(SERVER)?
            .path(SERVER_PATH)?
            .build();
        let signals = MessageIterator::for_match_rule(rule, &connection, Some(EARLY_ANSWERS))?;
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let listening = waiting.clone();
        std::thread::Builder::new()
            .name("notice answers".into())
            .spawn(move || listen(signals, &listening))
            .map_err(|error| zbus::Error::Failure(format!("cannot start a thread: {error}")))?;
        let capabilities: Vec<String> = connection
            .call_method(
                Some(SERVER),
                SERVER_PATH,
                Some(SERVER),
                "GetCapabilities",
                &(),
            )
            .and_then(|reply| reply.body().deserialize())
            .unwrap_or_default();
        Ok(Bus {
            connection,
            waiting,
            markup: capabilities
                .iter()
                .any(|capability| capability == "body-markup"),
            image: image_hint(),
        })
    }

    fn notify(
        &self,
        replaces: u32,
        summary: &str,
        body: &str,
        actions: &[(String, String)],
        urgency: Urgency,
    ) -> zbus::Result<u32> {
        let actions: Vec<&str> = actions
            .iter()
            .flat_map(|(id, label)| [id.as_str(), label.as_str()])
            .collect();
        let urgency: u8 = match urgency {
            Urgency::Low => 0,
            Urgency::Normal => 1,
            Urgency::Critical => 2,
        };
        let mut hints = HashMap::from([
            ("urgency", Value::U8(urgency)),
            // Which product it is from: the desktop entry, and the product's icon.
            ("desktop-entry", Value::from("remote-service")),
        ]);
        if let Some(image) = &self.image {
            hints.insert("image-data", image.clone());
        }
        // A body starts as a sentence does, whoever wrote its first word.
        let body = capitalised(body);
        let body = if self.markup {
            escape_markup(&body)
        } else {
            body
        };
        let reply = self.connection.call_method(
            Some(SERVER),
            SERVER_PATH,
            Some(SERVER),
            "Notify",
            &(APP_NAME, replaces, "", summary, body, actions, hints, -1i32),
        )?;
        reply.body().deserialize()
    }

    fn wait_for_answer(&self, id: u32, answer: Answer) {
        let ready = self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wait(id, answer);
        if let Some((answer, action)) = ready {
            answered(answer, action);
        }
    }
}

/// The listener: every `ActionInvoked` and `NotificationClosed` of the server.
fn listen(signals: MessageIterator, waiting: &Mutex<Waiting>) {
    for message in signals.flatten() {
        let header = message.header();
        let heard = match header.member().map(|member| member.as_str()) {
            Some("ActionInvoked") => message
                .body()
                .deserialize::<(u32, String)>()
                .ok()
                .map(|(id, action)| (id, Some(action))),
            Some("NotificationClosed") => message
                .body()
                .deserialize::<(u32, u32)>()
                .ok()
                .map(|(id, _reason)| (id, None)),
            _ => None,
        };
        let Some((id, action)) = heard else { continue };
        let ready = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .heard(id, action);
        if let Some((answer, action)) = ready {
            answered(answer, action);
        }
    }
}

/// Gives the answer on a thread of its own: it may call the engine.
fn answered(answer: Answer, action: String) {
    if let Err(error) = std::thread::Builder::new()
        .name("notice answer".into())
        .spawn(move || answer(action))
    {
        tracing::warn!("cannot hand on the answer to a notice: {error}");
    }
}

/// Text for a server that reads markup in bodies: `&`, `<` and `>` shown as they are,
/// never taken for a tag or a link.
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod capital_tests {
    #[test]
    fn a_body_starts_with_a_capital_unless_it_starts_with_a_name() {
        assert_eq!(
            super::capitalised("connection refused by x"),
            "Connection refused by x"
        );
        assert_eq!(
            super::capitalised("garbage.lic: not a licence"),
            "garbage.lic: not a licence"
        );
        assert_eq!(
            super::capitalised("/mnt/fls: read-only"),
            "/mnt/fls: read-only"
        );
        assert_eq!(super::capitalised("Already"), "Already");
        assert_eq!(super::capitalised(""), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_heard_before_it_is_waited_for_is_given_when_it_is() {
        let mut waiting = Waiting::default();
        assert!(waiting.heard(7, Some("yes".into())).is_none());
        assert!(waiting.heard(8, None).is_none());
        let (_, action) = waiting.wait(7, Box::new(|_| {})).expect("heard already");
        assert_eq!(action, "yes");
        assert!(
            waiting.wait(8, Box::new(|_| {})).is_none(),
            "closed: no answer"
        );
        assert!(waiting.wait(9, Box::new(|_| {})).is_none());
        let (_, action) = waiting.heard(9, Some("no".into())).expect("waited for");
        assert_eq!(action, "no");
        for id in 100..(100 + 2 * EARLY_ANSWERS as u32) {
            waiting.heard(id, None);
        }
        assert_eq!(waiting.early.len(), EARLY_ANSWERS, "bounded");
    }

    #[test]
    fn bodies_are_escaped_for_servers_that_read_markup() {
        assert_eq!(
            escape_markup("<a href=\"x\">R&D</a>"),
            "&lt;a href=\"x\"&gt;R&amp;D&lt;/a&gt;"
        );
    }
}
