//! Times as the user's clock shows them. The `time` crate will not read the local offset
//! in a process with threads (another thread could change `TZ` meanwhile); the front-ends
//! never change their environment, so the C library's `localtime_r` is asked.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// An RFC 3339 time as "2026-12-01 14:05" in the local time zone; the text itself when it
/// does not read.
pub fn local_time(at: &str) -> String {
    let Ok(time) = OffsetDateTime::parse(at, &Rfc3339) else {
        return at.to_string();
    };
    let local = time.to_offset(offset_at(time).unwrap_or(UtcOffset::UTC));
    local
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]"
        ))
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(unix)]
fn offset_at(time: OffsetDateTime) -> Option<UtcOffset> {
    // time_t is 32 bits on some systems.
    #[allow(clippy::useless_conversion)]
    let seconds: libc::time_t = time.unix_timestamp().try_into().ok()?;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let converted = unsafe { libc::localtime_r(&seconds, &mut tm) };
    if converted.is_null() {
        return None;
    }
    UtcOffset::from_whole_seconds(tm.tm_gmtoff.try_into().ok()?).ok()
}

#[cfg(not(unix))]
fn offset_at(_time: OffsetDateTime) -> Option<UtcOffset> {
    UtcOffset::current_local_offset().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_reads_in_minutes_and_anything_else_stays_as_it_is() {
        let shown = local_time("2026-12-01T13:05:00Z");
        assert_eq!(shown.len(), "2026-12-01 13:05".len(), "{shown}");
        assert!(shown.ends_with(":05"), "{shown}");
        assert_eq!(local_time("soon"), "soon");
    }
}
