//! The parsers that take input from outside the engine, each behind a function of bytes:
//! the fuzz targets of `fuzz/` call them, and `fuzz/tests/corpora.rs` replays the kept
//! corpora through them on stable Rust. A function panics only when a promise of the code
//! does not hold (a parser panics, an error quotes a secret, what is written cannot be read
//! back); refusing the input is the expected outcome for almost all of it.

use hyper::Method;
use remote_service_api::{CommandRequest, Endpoint, LicenceText, Value};
use remote_service_licence_format::{parse_trusted_comment, read_payload, split};

use crate::connection::backoffice::{
    answered_failure, parse_answer, HeartbeatAnswer, MAX_SHOWN_MESSAGE,
};
use crate::connection::sse::SseReader;
use crate::connection::{heard, ConnectionUpdate, Heard, Session};
use crate::licence::verify_licence;
use crate::licence::TrustedKeys;
use crate::server::parse_body;
use crate::settings::Settings;

/// A licence file as the licence folder, `licence install` and the updater hand it over:
/// the armour, the trusted comment and the payload's strict reading; then the whole
/// verification, which a forged file never passes.
pub fn licence_file(data: &[u8]) {
    if let Ok(armoured) = split(data) {
        let comment = armoured
            .signature
            .lines()
            .find_map(|line| line.strip_prefix("trusted comment: "))
            .unwrap_or_default();
        if let Ok((payload, json)) = read_payload(armoured.payload.clone(), comment) {
            assert_eq!(json.as_bytes(), armoured.payload, "the payload as signed");
            assert_eq!(
                parse_trusted_comment(comment).map(|(id, _)| id),
                Some(&*payload.licence_id)
            );
        }
    }
    // The payload reader on its own, with the first line as the trusted comment: the
    // fuzzer cannot forge a signature, so this is how it reaches the JSON behind one.
    if let Some(cut) = data.iter().position(|&byte| byte == b'\n') {
        if let Ok(comment) = std::str::from_utf8(&data[..cut]) {
            if let Ok((payload, _)) = read_payload(data[cut + 1..].to_vec(), comment) {
                let _ = payload.has_feature("FLS");
                let _ = payload.feature_count("FLS");
            }
        }
    }
    let keys = TrustedKeys::built_in();
    assert!(
        verify_licence(data, &keys).is_err(),
        "a file the fuzzer made passed as signed by the vendor"
    );
}

/// The settings file, as an administrator may edit it by hand: what is read is saved and
/// read back the same.
pub fn settings_file(data: &[u8]) {
    let Ok(settings) = Settings::parse(data) else {
        return;
    };
    let saved = toml::to_string(&settings).expect("settings serialise to TOML");
    assert_eq!(
        Settings::parse(saved.as_bytes()).as_ref(),
        Ok(&settings),
        "settings saved as {saved:?} read back differently"
    );
    for (name, _) in crate::config::entries(&settings) {
        crate::config::get(&settings, name).expect("a listed setting can be read");
    }
}

/// A request to the local API: the first line is `METHOD PATH`, the rest its body. The
/// path is routed, the body read as the endpoint reads it, and a setting's value applied
/// to the defaults as `config set` does: a value taken is saved and read back.
pub fn local_api_request(data: &[u8]) {
    let (head, body) = match data.iter().position(|&byte| byte == b'\n') {
        Some(cut) => (&data[..cut], &data[cut + 1..]),
        None => (data, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return;
    };
    let (method, path) = head.split_once(' ').unwrap_or((head, "/"));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Ok(endpoint) = Endpoint::parse(&method, path) else {
        return;
    };
    assert_eq!(
        Endpoint::parse(&endpoint.method(), &endpoint.path()).as_ref(),
        Ok(&endpoint),
        "{endpoint:?} does not route back to itself from {:?}",
        endpoint.path()
    );
    assert!(!endpoint.time_limit().is_zero());
    match &endpoint {
        Endpoint::SetConfig { key } => {
            if let Ok(value) = parse_body::<Value>(body) {
                let mut settings = Settings::default();
                if crate::config::set(&mut settings, key, &value.value).is_ok() {
                    let saved = toml::to_string(&settings).expect("settings serialise to TOML");
                    assert_eq!(
                        Settings::parse(saved.as_bytes()).as_ref(),
                        Ok(&settings),
                        "{key} = {:?} was saved as {saved:?}, which reads back differently",
                        value.value
                    );
                }
            }
        }
        Endpoint::SetSecret { .. } => {
            if let Err(problem) = parse_body::<Value>(body) {
                assert_quotes_nothing_of(&problem, body);
            }
        }
        Endpoint::Command { .. } => {
            let _ = parse_body::<CommandRequest>(body);
        }
        Endpoint::VerifyLicence | Endpoint::InstallLicence => {
            if let Ok(licence) = parse_body::<LicenceText>(body) {
                licence_file(licence.text.as_bytes());
            }
        }
        _ => {}
    }
}

/// What the back office sends an installation: the first byte picks what, the rest is
/// the bytes. An error answer becomes a reason the tray shows (one line, bounded, without
/// control characters); the event stream arrives in chunks cut where the second byte says
/// and every event is read as the connection reads it.
pub fn backoffice_answers(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 4 {
        0 => {
            let base = url::Url::parse("https://backoffice.example/").expect("a URL");
            let status =
                reqwest::StatusCode::from_u16(400 + u16::from(pick % 200)).expect("a status code");
            let failure = answered_failure(&base, status, rest, None);
            assert!(
                !failure.reason.chars().any(char::is_control),
                "a control character reaches the tray: {:?}",
                failure.reason
            );
            assert!(
                failure.reason.chars().count() <= MAX_SHOWN_MESSAGE + 200,
                "an unbounded reason: {} characters",
                failure.reason.chars().count()
            );
        }
        1 => {
            let _ = parse_answer::<Session>(rest);
        }
        2 => {
            let _ = parse_answer::<HeartbeatAnswer>(rest);
        }
        _ => {
            let Some((&cut, stream)) = rest.split_first() else {
                return;
            };
            let size = usize::from(cut).max(1);
            let mut reader = SseReader::default();
            for chunk in stream.chunks(size) {
                let Ok(events) = reader.push(chunk) else {
                    return;
                };
                for event in events {
                    let texts = match heard(&event) {
                        Heard::Update(ConnectionUpdate::LicenceAvailable {
                            licence_id, ..
                        }) => {
                            vec![licence_id]
                        }
                        Heard::Update(ConnectionUpdate::AssistanceRequested {
                            request, ..
                        }) => vec![
                            request.request_id,
                            request.help_desk_user,
                            request.organisation,
                            request.message,
                            request.requested_at,
                        ],
                        Heard::Unreadable(problem) => vec![problem],
                        _ => Vec::new(),
                    };
                    for text in texts {
                        assert!(
                            !text.chars().any(char::is_control),
                            "a control character passes into the engine: {text:?}"
                        );
                    }
                }
            }
        }
    }
}

/// The message `problem` about `body` is the fixed sentence with the place of the error:
/// nothing of the body (which may be a secret) can be in it.
fn assert_quotes_nothing_of(problem: &str, _body: &[u8]) {
    let place = problem
        .strip_prefix("the body is not the JSON this endpoint takes (line ")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|rest| rest.split_once(", column "));
    assert!(
        place.is_some_and(|(line, column)| {
            line.bytes().all(|byte| byte.is_ascii_digit())
                && column.bytes().all(|byte| byte.is_ascii_digit())
        }),
        "the error {problem:?} is not the fixed sentence"
    );
}
