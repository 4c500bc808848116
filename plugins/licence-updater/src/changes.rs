//! What a new licence changes, in words for the balloon ("Users: 10 → 25").

use serde_json::Value;

fn parse(payload: &str) -> Option<Value> {
    serde_json::from_str(payload).ok()
}

/// The payload's licence id.
pub fn licence_id(payload: &str) -> Option<String> {
    parse(payload)?["licence_id"].as_str().map(str::to_string)
}

/// The payload's sequence.
pub fn sequence(payload: &str) -> Option<u64> {
    parse(payload)?["sequence"].as_u64()
}

/// The name people know an option by.
fn option_name(code: &str) -> String {
    match code {
        "users" => "Users".to_string(),
        "remote-assistance" => "Remote assistance".to_string(),
        "auto-licence-update" => "Automatic licence update".to_string(),
        other => {
            let mut name = other.replace('-', " ");
            if let Some(first) = name.get(0..1) {
                name.replace_range(0..1, &first.to_uppercase());
            }
            name
        }
    }
}

/// Features as (code, count).
fn features(payload: &Value) -> Vec<(String, Option<u64>)> {
    payload["features"]
        .as_array()
        .map(|features| {
            features
                .iter()
                .filter_map(|feature| {
                    Some((
                        feature["code"].as_str()?.to_string(),
                        feature["count"].as_u64(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The lines of the balloon: empty when nothing changed at feature level.
pub fn describe(before: Option<&str>, after: &str) -> Vec<String> {
    let Some(after) = parse(after) else {
        return Vec::new();
    };
    let before = before.and_then(parse).unwrap_or(Value::Null);
    let (old, new) = (features(&before), features(&after));
    let mut lines = Vec::new();
    for (code, count) in &new {
        match old.iter().find(|(old_code, _)| old_code == code) {
            None => lines.push(match count {
                Some(count) => format!("{}: {count}", option_name(code)),
                None => format!("{} is now licensed", option_name(code)),
            }),
            Some((_, old_count)) if old_count != count => lines.push(format!(
                "{}: {} → {}",
                option_name(code),
                old_count.map_or("—".to_string(), |count| count.to_string()),
                count.map_or("—".to_string(), |count| count.to_string())
            )),
            Some(_) => {}
        }
    }
    for (code, _) in &old {
        if !new.iter().any(|(new_code, _)| new_code == code) {
            lines.push(format!("{} is no longer licensed", option_name(code)));
        }
    }
    let text = |value: &Value, field: &str| value[field].as_str().map(str::to_string);
    if let Some(through) = text(&after, "maintenance_through") {
        match text(&before, "maintenance_through") {
            Some(old) if old < through => lines.push(format!("Maintenance extended to {through}")),
            Some(old) if old > through => lines.push(format!("Maintenance now ends on {through}")),
            _ => {}
        }
    }
    let (old_expiry, new_expiry) = (
        text(&before, "licence_expires_at"),
        text(&after, "licence_expires_at"),
    );
    if !before.is_null() && old_expiry != new_expiry {
        lines.push(match &new_expiry {
            Some(at) => format!("The licence now expires on {}", &at[..at.len().min(10)]),
            None => "The licence no longer expires".to_string(),
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(features: &str, maintenance: &str) -> String {
        format!(
            r#"{{"serial_number":"RS-1","licence_id":"LIC-RS-1-2","sequence":2,"maintenance_through":"{maintenance}","features":[{features}]}}"#
        )
    }

    fn check(before: Option<&str>, after: &str, expect: &[&str]) {
        assert_eq!(describe(before, after), expect, "{before:?} → {after}");
    }

    #[test]
    fn changes_in_words() {
        let old = payload(
            r#"{"code":"auto-licence-update"},{"code":"users","count":10}"#,
            "2026-12-31",
        );
        check(
            Some(&old),
            &payload(
                r#"{"code":"auto-licence-update"},{"code":"users","count":25},{"code":"remote-assistance"}"#,
                "2027-12-31",
            ),
            &[
                "Users: 10 → 25",
                "Remote assistance is now licensed",
                "Maintenance extended to 2027-12-31",
            ],
        );
        check(Some(&old), &old, &[]);
        check(
            Some(&old),
            &payload(r#"{"code":"users","count":10}"#, "2026-12-31"),
            &["Automatic licence update is no longer licensed"],
        );
        assert_eq!(licence_id(&old).as_deref(), Some("LIC-RS-1-2"));
        assert_eq!(sequence(&old), Some(2));
    }
}
