//! The back office's reading of request bodies behind a function of bytes, for the fuzz
//! target of `fuzz/` and for `fuzz/tests/corpora.rs`, which replays its corpus on stable
//! Rust. It panics only when a promise of the code does not hold: the parser or the checks
//! of a parsed body (TeamViewer IDs, times, names) panic, a `400 malformed` answer quotes a
//! value of the body (which may be a verification code or a password), or a check refuses
//! without naming the field.

use serde::de::DeserializeOwned;

use crate::errors::parse_body;
use crate::helpdesk::{AssistanceRequest, SignIn};
use crate::installations::{
    AssistanceAnswer, AssistanceReport, HeartbeatRequest, InstallReport, SessionRequest,
};

/// The first byte picks the endpoint's body type, the rest is the body.
pub fn request_bodies(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 7 {
        0 => {
            check::<SessionRequest>(body);
        }
        1 => {
            check::<HeartbeatRequest>(body);
        }
        2 => {
            check::<InstallReport>(body);
        }
        3 => {
            if let Some(answer) = check::<AssistanceAnswer>(body) {
                check_validation(answer.checked().map(drop));
            }
        }
        4 => {
            check::<SignIn>(body);
        }
        5 => {
            check::<AssistanceRequest>(body);
        }
        _ => {
            if let Some(report) = check::<AssistanceReport>(body) {
                check_validation(report.allowance().map(drop));
            }
        }
    }
}

/// A body that parsed and was then checked: a refusal is `400 malformed` naming a field.
fn check_validation(checked: Result<(), crate::errors::ApiError>) {
    if let Err(error) = checked {
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(error.error, "malformed");
        assert!(error.field.is_some(), "{:?} names no field", error.message);
    }
}

/// Parses `body` as `T`; what it gave when it parsed.
fn check<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    let error = match parse_body::<T>(body) {
        Ok(parsed) => return Some(parsed),
        Err(error) => error,
    };
    assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
    assert_eq!(error.error, "malformed");
    // The answer's only variable part is the field's name: the words around it are fixed,
    // so no value of the body can be in them.
    let described = [
        "not valid JSON",
        "could not be read",
        "missing",
        "unknown field",
        "wrong type or value",
    ];
    let expected: Vec<String> = described
        .iter()
        .map(|words| match &error.field {
            Some(field) => format!("the body is not the expected JSON: field {field}: {words}"),
            None => format!("the body is not the expected JSON: {words}"),
        })
        .collect();
    assert!(
        expected.contains(&error.message),
        "the answer {:?} is not one of the fixed sentences",
        error.message
    );
    // The field is made of the body's keys and indices, never of its values.
    let (Some(field), Ok(json)) = (
        &error.field,
        serde_json::from_slice::<serde_json::Value>(body),
    ) else {
        return None;
    };
    let (mut values, mut keys) = (Vec::new(), Vec::new());
    collect_strings(&json, &mut values, &mut keys);
    // A missing field is named by the type, not by the body: its last segment is the
    // type's field name, which a value of the body may happen to equal.
    let field = if error.message.ends_with(": missing") {
        field.rsplit_once('.').map_or("", |(path, _)| path)
    } else {
        field.as_str()
    };
    for value in values {
        if value.chars().count() >= 8 && !keys.iter().any(|key| key.contains(value.as_str())) {
            assert!(
                !field.contains(value.as_str()),
                "the field {field:?} quotes the value {value:?}"
            );
        }
    }
    None
}

fn collect_strings(value: &serde_json::Value, values: &mut Vec<String>, keys: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => values.push(text.clone()),
        serde_json::Value::Array(items) => items
            .iter()
            .for_each(|item| collect_strings(item, values, keys)),
        serde_json::Value::Object(map) => map.iter().for_each(|(key, item)| {
            keys.push(key.clone());
            collect_strings(item, values, keys)
        }),
        _ => {}
    }
}
