//! Notices on the desktop (freedesktop notifications through notify-rust), rate-limited
//! and merged: a notice repeated within a minute replaces the one shown, with a count,
//! instead of raising a new balloon.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use notify_rust::Notification;
use remote_service_api::Urgency;

/// Repeats closer together than this are merged into the notice shown.
const MERGE_WINDOW: Duration = Duration::from_secs(60);

/// The application name notification servers show.
pub const APP_NAME: &str = "Remote Service";

struct Shown {
    id: u32,
    at: Instant,
    count: u32,
}

/// The notices shown so far, by key.
#[derive(Default)]
pub struct Notices {
    shown: HashMap<String, Shown>,
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
        let mut notification = Notification::new();
        notification
            .appname(APP_NAME)
            .summary(&summary)
            .body(body)
            .urgency(match urgency {
                Urgency::Low => notify_rust::Urgency::Low,
                Urgency::Normal => notify_rust::Urgency::Normal,
                Urgency::Critical => notify_rust::Urgency::Critical,
            });
        if let Some(shown) = previous {
            notification.id(shown.id);
        }
        for (id, label) in actions {
            notification.action(id, label);
        }
        match notification.show() {
            Ok(handle) => {
                let at = previous.map_or(now, |shown| shown.at);
                self.shown.insert(
                    key.to_string(),
                    Shown {
                        id: handle.id(),
                        at,
                        count,
                    },
                );
                if !actions.is_empty() {
                    std::thread::spawn(move || {
                        handle.wait_for_action(|action| {
                            // "__closed" is notify-rust's word for "dismissed without a
                            // button".
                            if action != "__closed" {
                                answered(action.to_string());
                            }
                        })
                    });
                }
            }
            Err(error) => tracing::warn!("cannot show the notice {summary:?}: {error}"),
        }
    }
}
