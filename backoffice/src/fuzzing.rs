//! The back office's reading of request bodies behind a function of bytes, for the fuzz
//! target of `fuzz/` and for `fuzz/tests/corpora.rs`, which replays its corpus on stable
//! Rust. It panics only when a promise of the code does not hold: the parser panics, or a
//! `400 malformed` answer quotes a value of the body (which may be a verification code or
//! a password).

use serde::de::DeserializeOwned;

use crate::errors::parse_body;
use crate::helpdesk::{AssistanceRequest, SignIn};
use crate::installations::{AssistanceAnswer, HeartbeatRequest, InstallReport, SessionRequest};

/// The first byte picks the endpoint's body type, the rest is the body.
pub fn request_bodies(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 6 {
        0 => check::<SessionRequest>(body),
        1 => check::<HeartbeatRequest>(body),
        2 => check::<InstallReport>(body),
        3 => check::<AssistanceAnswer>(body),
        4 => check::<SignIn>(body),
        _ => check::<AssistanceRequest>(body),
    }
}

fn check<T: DeserializeOwned>(body: &[u8]) {
    let Err(error) = parse_body::<T>(body) else {
        return;
    };
    assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
    assert_eq!(error.error, "malformed");
    let field = error.field.clone().unwrap_or_default();
    // The strings of the body: its values when it is JSON; when it is not (serde reads as
    // it goes, so a wrong key may be named before the syntax error), every quoted piece.
    let mut strings = Vec::new();
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => collect_strings(&json, &mut strings),
        Err(_) => strings.extend(
            String::from_utf8_lossy(body)
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string),
        ),
    }
    for value in strings {
        // A key named as the field is named, not quoted.
        if value.chars().count() >= 8 && !field.contains(value.as_str()) {
            assert!(
                !error.message.contains(value.as_str()),
                "the answer {:?} quotes {value:?} of the body",
                error.message
            );
        }
    }
}

fn collect_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => into.push(text.clone()),
        serde_json::Value::Array(items) => {
            items.iter().for_each(|item| collect_strings(item, into))
        }
        serde_json::Value::Object(map) => map.values().for_each(|item| collect_strings(item, into)),
        _ => {}
    }
}
