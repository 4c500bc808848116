//! Expiry notices: maintenance ending within a month, the licence expiring within a month,
//! the licence expired; at start and at most once a day while it holds. "Now" is the latest
//! of the clock, the last run and the licence's `issued_at`, so that turning the clock back
//! does not hide an expiry; but a last run more than [`CLOCK_SLACK`] ahead of the clock is
//! a clock that was wrong one way or the other (set years ahead, then put right): the clock
//! is believed from then on and the user is told once, instead of "Licence expired" coming
//! back every day until the wrong date is reached.

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};

/// How far ahead a coming end is announced.
const AHEAD: Duration = Duration::days(31);

/// A notice to show: (key, summary, body, critical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryNotice {
    /// The notice key (also what "once a day" is counted by).
    pub key: &'static str,
    /// The title.
    pub summary: String,
    /// The text.
    pub body: String,
    /// Whether it is critical (the licence expired).
    pub critical: bool,
}

fn date_text(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// How far the last run may be ahead of the clock and still count as the clock turned
/// back (rather than a clock that had been wrong).
pub const CLOCK_SLACK: Duration = Duration::days(2);

/// The moment to judge by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The latest of the clock, a last run at most [`CLOCK_SLACK`] ahead of it, and
    /// `issued_at` (signed by the back office, so never a wrong local clock).
    pub now: OffsetDateTime,
    /// The notice to show when the last run was further ahead: the clock jumped.
    pub clock_notice: Option<ExpiryNotice>,
}

/// The moment to judge by, and whether the clock jumped since the last run.
pub fn now(clock: OffsetDateTime, last_run: Option<i64>, payload: &serde_json::Value) -> Judged {
    let mut now = clock;
    let mut clock_notice = None;
    if let Some(last) =
        last_run.and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
    {
        if last - clock <= CLOCK_SLACK {
            now = now.max(last);
        } else {
            clock_notice = Some(ExpiryNotice {
                key: "clock-changed",
                summary: "The clock was changed".to_string(),
                body: format!(
                    "This computer's clock says {}, but the licence updater last ran on {}. \
                     Licence and maintenance dates are judged by the clock: check that its \
                     date is right.",
                    date_text(clock.date()),
                    date_text(last.date())
                ),
                critical: false,
            });
        }
    }
    if let Some(issued) = payload["issued_at"]
        .as_str()
        .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
    {
        now = now.max(issued);
    }
    Judged { now, clock_notice }
}

/// The notices due at `now` for the licence `payload`, leaving out those already shown on
/// the same day (`shown`: key → day), which it updates.
pub fn due(
    payload: &serde_json::Value,
    now: OffsetDateTime,
    shown: &mut BTreeMap<String, String>,
) -> Vec<ExpiryNotice> {
    let mut notices = Vec::new();
    if let Some(expires) = payload["licence_expires_at"]
        .as_str()
        .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
    {
        let day = date_text(expires.date());
        if expires <= now {
            notices.push(ExpiryNotice {
                key: "licence-expired",
                summary: "Licence expired".to_string(),
                body: format!(
                    "The licence expired on {day}. Contact your supplier for a new licence."
                ),
                critical: true,
            });
        } else if expires - now <= AHEAD {
            notices.push(ExpiryNotice {
                key: "licence-expiring",
                summary: "Licence expires soon".to_string(),
                body: format!("The licence expires on {day}."),
                critical: false,
            });
        }
    }
    if let Some(through) = payload["maintenance_through"].as_str().and_then(|text| {
        Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
    }) {
        // Maintenance covers the whole last day.
        let end = through
            .with_time(Time::MIDNIGHT)
            .assume_utc()
            .saturating_add(Duration::days(1));
        if end > now && end - now <= AHEAD {
            notices.push(ExpiryNotice {
                key: "maintenance-ending",
                summary: "Maintenance ends soon".to_string(),
                body: format!(
                    "Maintenance ends on {}. Updates released after that day are not covered.",
                    date_text(through)
                ),
                critical: false,
            });
        }
    }
    let today = date_text(now.date());
    notices.retain(|notice| {
        if shown.get(notice.key) == Some(&today) {
            return false;
        }
        shown.insert(notice.key.to_string(), today.clone());
        true
    });
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    }

    fn licence(expires: Option<&str>, maintenance: &str) -> serde_json::Value {
        let mut payload = serde_json::json!({
            "issued_at": "2026-01-01T00:00:00Z",
            "maintenance_through": maintenance,
        });
        if let Some(expires) = expires {
            payload["licence_expires_at"] = expires.into();
        }
        payload
    }

    fn check(payload: &serde_json::Value, now: &str, expect: &[&str]) {
        let keys: Vec<&str> = due(payload, at(now), &mut BTreeMap::new())
            .iter()
            .map(|notice| notice.key)
            .collect();
        assert_eq!(keys, expect, "{payload} at {now}");
    }

    #[test]
    fn which_notices_are_due() {
        let far = licence(None, "2030-12-31");
        check(&far, "2026-11-23T10:00:00Z", &[]);
        check(
            &licence(Some("2026-12-10T00:00:00Z"), "2030-12-31"),
            "2026-11-23T10:00:00Z",
            &["licence-expiring"],
        );
        check(
            &licence(Some("2026-11-01T00:00:00Z"), "2030-12-31"),
            "2026-11-23T10:00:00Z",
            &["licence-expired"],
        );
        check(
            &licence(None, "2026-12-15"),
            "2026-11-23T10:00:00Z",
            &["maintenance-ending"],
        );
        // The last day of maintenance is still covered; the day after, it is over.
        check(
            &licence(None, "2026-11-23"),
            "2026-11-23T23:00:00Z",
            &["maintenance-ending"],
        );
        check(&licence(None, "2026-11-22"), "2026-11-23T10:00:00Z", &[]);
    }

    #[test]
    fn once_a_day_while_it_holds() {
        let payload = licence(Some("2026-11-01T00:00:00Z"), "2030-12-31");
        let mut shown = BTreeMap::new();
        assert_eq!(
            due(&payload, at("2026-11-23T08:00:00Z"), &mut shown).len(),
            1
        );
        assert_eq!(
            due(&payload, at("2026-11-23T20:00:00Z"), &mut shown).len(),
            0
        );
        assert_eq!(
            due(&payload, at("2026-11-24T08:00:00Z"), &mut shown).len(),
            1
        );
    }

    #[test]
    fn turning_the_clock_back_does_not_hide_an_expiry() {
        let payload = licence(Some("2026-11-20T00:00:00Z"), "2030-12-31");
        let last_run = at("2026-11-23T08:00:00Z").unix_timestamp();
        let clock_turned_back = at("2026-11-21T09:00:00Z");
        let judged = now(clock_turned_back, Some(last_run), &payload);
        assert_eq!(judged.now, at("2026-11-23T08:00:00Z"));
        assert_eq!(judged.clock_notice, None);
        let keys: Vec<&str> = due(&payload, judged.now, &mut BTreeMap::new())
            .iter()
            .map(|notice| notice.key)
            .collect();
        assert_eq!(keys, ["licence-expired"]);
        // A licence issued after the clock's time says the clock is behind, whatever the
        // last run says: the back office signed it.
        let issued_later = serde_json::json!({"issued_at": "2027-03-01T00:00:00Z"});
        assert_eq!(
            now(at("2026-10-01T08:00:00Z"), None, &issued_later).now,
            at("2027-03-01T00:00:00Z")
        );
    }

    #[test]
    fn a_clock_put_right_after_a_jump_ahead_is_believed_and_the_user_told() {
        // The clock was set to 2030 for a day, the updater ran, then the clock was put
        // right. The licence expires in 2028: not expired, and no "Licence expired" every
        // day until 2030.
        let payload = licence(Some("2028-01-01T00:00:00Z"), "2030-12-31");
        let last_run = at("2030-06-01T08:00:00Z").unix_timestamp();
        let clock = at("2026-11-24T08:00:00Z");
        let judged = now(clock, Some(last_run), &payload);
        assert_eq!(judged.now, clock);
        let notice = judged.clock_notice.expect("the jump is reported");
        assert_eq!(notice.key, "clock-changed");
        assert_eq!(
            notice.body,
            "This computer's clock says 2026-11-24, but the licence updater last ran on \
             2030-06-01. Licence and maintenance dates are judged by the clock: check that its \
             date is right."
        );
        assert!(due(&payload, judged.now, &mut BTreeMap::new()).is_empty());
        // The next run starts from the clock: nothing more to report.
        let next = now(
            at("2026-11-25T08:00:00Z"),
            Some(judged.now.unix_timestamp()),
            &payload,
        );
        assert_eq!(next.clock_notice, None);
    }
}
