use super::*;

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn allowance(until: &str) -> Allowance {
    Allowance {
        until: at(until),
        teamviewer_id: "123 456 789".into(),
        started_daemon: true,
        enabled_daemon: false,
        steps: Vec::new(),
    }
}

fn request(id: &str) -> HelpRequest {
    HelpRequest {
        request_id: id.into(),
        help_desk_user: "anna".into(),
        organisation: "Help Desk Ltd".into(),
        message: "may I?".into(),
        requested_at: "2026-12-01T10:00:00Z".into(),
        answer_by: String::new(),
    }
}

fn events(assistance: &Assistance) -> Vec<String> {
    assistance
        .read_log()
        .unwrap()
        .into_iter()
        .map(|entry| entry.event)
        .collect()
}

#[test]
fn an_allowance_survives_a_restart_and_one_that_expired_meanwhile_is_not_revived() {
    let folder = tempfile::tempdir().unwrap();
    let now = at("2026-12-01T10:00:00Z");
    let (mut assistance, undo) = Assistance::open(folder.path(), now);
    assert_eq!(undo, None);
    assistance
        .allow(allowance("2026-12-01T12:00:00Z"), now)
        .unwrap();
    drop(assistance);

    let (again, undo) = Assistance::open(folder.path(), at("2026-12-01T11:00:00Z"));
    assert_eq!(undo, None);
    assert_eq!(again.allowance(), Some(&allowance("2026-12-01T12:00:00Z")));
    drop(again);

    let (after, undo) = Assistance::open(folder.path(), at("2026-12-01T13:00:00Z"));
    assert_eq!(
        after.allowance(),
        None,
        "an allowance that ended while the engine was down is not revived"
    );
    assert_eq!(
        undo,
        Some(Undo {
            stop_daemon: true,
            disable_daemon: false
        })
    );
    assert_eq!(events(&after), ["allowed", "expired"]);
    let expired = after.read_log().unwrap().pop().unwrap();
    assert_eq!(
        expired.at, "2026-12-01T12:00:00Z",
        "recorded at the time it ended"
    );
    let (reopened, undo) = Assistance::open(folder.path(), at("2026-12-01T14:00:00Z"));
    assert_eq!((reopened.allowance(), undo), (None, None));
}

#[test]
fn a_request_while_not_allowed_is_answered_at_once_and_recorded() {
    let folder = tempfile::tempdir().unwrap();
    let now = at("2026-12-01T10:00:00Z");
    let (mut assistance, _) = Assistance::open(folder.path(), now);
    assert!(!assistance.requested(request("r1"), Duration::minutes(5), now));
    assert!(assistance.waiting().is_empty());
    let log = assistance.read_log().unwrap();
    assert_eq!(log[0].event, "requested");
    assert_eq!(log[1].answer.as_deref(), Some("not-allowed"));
}

#[test]
fn no_answer_within_the_time_is_a_denial_and_the_time_is_at_most_five_minutes() {
    let folder = tempfile::tempdir().unwrap();
    let now = at("2026-12-01T10:00:00Z");
    let (mut assistance, _) = Assistance::open(folder.path(), now);
    assistance
        .allow(allowance("2026-12-01T12:00:00Z"), now)
        .unwrap();
    assert!(assistance.requested(request("r1"), Duration::hours(1), now));
    assert_eq!(assistance.next_deadline(), Some(at("2026-12-01T10:05:00Z")));
    assert_eq!(assistance.tick(at("2026-12-01T10:04:59Z")), None);
    assert_eq!(
        assistance.waiting().len(),
        1,
        "still waiting a second before"
    );
    assert_eq!(assistance.tick(at("2026-12-01T10:05:00Z")), None);
    assert!(assistance.waiting().is_empty());
    let last = assistance.read_log().unwrap().pop().unwrap();
    assert_eq!(last.answer.as_deref(), Some("no-answer"));
}

#[test]
fn accepting_starts_a_session_and_expiry_ends_session_allowance_and_requests() {
    let folder = tempfile::tempdir().unwrap();
    let now = at("2026-12-01T10:00:00Z");
    let (mut assistance, _) = Assistance::open(folder.path(), now);
    let mut allowed = allowance("2026-12-01T12:00:00Z");
    allowed.started_daemon = false;
    assistance.allow(allowed, now).unwrap();
    assistance.requested(request("r1"), Duration::minutes(5), now);
    assistance.requested(request("r2"), Duration::minutes(5), now);
    assistance.accept("r1", true, now).unwrap();
    let status = assistance.status(Vec::new());
    assert_eq!(status.session.unwrap().help_desk_user, "anna");
    assert_eq!(status.requests.len(), 1);
    assert_eq!(status.recent[0].event, "session-started");

    let undo = assistance.tick(at("2026-12-01T12:00:00Z"));
    assert_eq!(
        undo,
        Some(Undo {
            stop_daemon: true,
            disable_daemon: false
        }),
        "the daemon started for the session is stopped"
    );
    assert_eq!(assistance.allowance(), None);
    assert_eq!(assistance.session(), None);
    assert!(assistance.waiting().is_empty());
    assert_eq!(
        events(&assistance),
        [
            "allowed",
            "requested",
            "requested",
            "answered",
            "session-started",
            // r2's five minutes ran out long before the allowance did.
            "answered",
            "session-ended",
            "expired",
        ]
    );
}

#[test]
fn a_state_file_that_does_not_read_means_not_allowed() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join(STATE_FILE), "{not json").unwrap();
    let (assistance, undo) = Assistance::open(folder.path(), at("2026-12-01T10:00:00Z"));
    assert_eq!((assistance.allowance(), undo), (None, None));
}
