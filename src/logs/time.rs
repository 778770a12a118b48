//! Times as `--since` and `--until` take them, and as the engine writes
//! them before each line.
//!
//! Like compose: an RFC 3339 timestamp (`2024-05-01T12:00:00Z`, with a
//! fraction, an offset such as `+02:00`, or no zone for UTC; a date alone
//! is its midnight UTC), a Unix time in seconds (`1714564800`,
//! `1714564800.5`), or a duration back from now (`10m`, `1h30m`, `2h 5s`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A time given on the command line that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {text:?}: expected an RFC 3339 timestamp (2024-05-01T12:00:00Z), \
     a Unix time in seconds, or a duration back from now (10m, 1h30m)"
)]
pub struct TimeError {
    /// What was given.
    pub text: String,
}

/// Reads a `--since`/`--until` value; durations count back from `now`.
///
/// # Errors
/// [`TimeError`] when `text` is none of the accepted forms.
pub fn parse_time(text: &str, now: SystemTime) -> Result<SystemTime, TimeError> {
    let error = || TimeError {
        text: text.to_owned(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(error());
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return unix_time(trimmed).ok_or_else(error);
    }
    if let Ok(duration) = humantime::parse_duration(trimmed) {
        return Ok(now.checked_sub(duration).unwrap_or(UNIX_EPOCH));
    }
    timestamp(trimmed).ok_or_else(error)
}

/// The engine's timestamp before a line (`2024-05-01T12:00:00.123456789Z`).
#[must_use]
pub fn parse_engine_timestamp(text: &str) -> Option<SystemTime> {
    if text.len() < 20 || !text.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    humantime::parse_rfc3339(text)
        .ok()
        .or_else(|| timestamp(text))
}

/// `1714564800` or `1714564800.25`.
fn unix_time(text: &str) -> Option<SystemTime> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: u64 = secs.parse().ok()?;
    let nanos = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("{frac:0<9}").parse().ok()?
    };
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// RFC 3339 with an optional zone (`Z`, `+02:00`, `-0500`, none for UTC),
/// `T` or a space between date and time, or a date alone.
fn timestamp(text: &str) -> Option<SystemTime> {
    if text.len() == 10 {
        return humantime::parse_rfc3339(&format!("{text}T00:00:00Z")).ok();
    }
    let (local, offset) = split_offset(text)?;
    let time = humantime::parse_rfc3339_weak(local).ok()?;
    if offset >= 0 {
        time.checked_sub(Duration::from_secs(offset.unsigned_abs()))
    } else {
        time.checked_add(Duration::from_secs(offset.unsigned_abs()))
    }
}

/// The local part and the offset east of UTC in seconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    // The zone starts at the last sign after the time of day.
    let time_start = text.find(['T', 't', ' '])?;
    let Some(sign_at) = text[time_start..].rfind(['+', '-']).map(|i| i + time_start) else {
        return Some((text, 0));
    };
    let zone = text[sign_at + 1..].replace(':', "");
    if zone.len() != 4 || !zone.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = zone[..2].parse().ok()?;
    let minutes: i64 = zone[2..].parse().ok()?;
    let seconds = hours * 3600 + minutes * 60;
    let sign = if text.as_bytes()[sign_at] == b'-' {
        -1
    } else {
        1
    };
    Some((&text[..sign_at], sign * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const MAY_1_NOON: u64 = 1_714_564_800;

    #[test]
    fn durations_count_back_from_now() {
        let now = at(MAY_1_NOON);
        assert_eq!(parse_time("10m", now), Ok(at(MAY_1_NOON - 600)));
        assert_eq!(parse_time("1h30m", now), Ok(at(MAY_1_NOON - 5400)));
        assert_eq!(parse_time("2h 5s", now), Ok(at(MAY_1_NOON - 7205)));
        assert_eq!(parse_time("45s", now), Ok(at(MAY_1_NOON - 45)));
    }

    #[test]
    fn rfc3339_timestamps_with_and_without_zones() {
        let now = at(0);
        assert_eq!(parse_time("2024-05-01T12:00:00Z", now), Ok(at(MAY_1_NOON)));
        assert_eq!(
            parse_time("2024-05-01T14:00:00+02:00", now),
            Ok(at(MAY_1_NOON))
        );
        assert_eq!(
            parse_time("2024-05-01T07:00:00-0500", now),
            Ok(at(MAY_1_NOON))
        );
        assert_eq!(parse_time("2024-05-01 12:00:00", now), Ok(at(MAY_1_NOON)));
        assert_eq!(
            parse_time("2024-05-01T12:00:00.5Z", now),
            Ok(at(MAY_1_NOON) + Duration::from_millis(500))
        );
        assert_eq!(
            parse_time("2024-05-01", now),
            Ok(at(MAY_1_NOON - 12 * 3600))
        );
    }

    #[test]
    fn unix_times() {
        let now = at(0);
        assert_eq!(parse_time("1714564800", now), Ok(at(MAY_1_NOON)));
        assert_eq!(
            parse_time("1714564800.25", now),
            Ok(at(MAY_1_NOON) + Duration::from_millis(250))
        );
    }

    #[test]
    fn nonsense_is_an_error_that_says_what_is_accepted() {
        for bad in [
            "",
            "soon",
            "10 parsecs",
            "2024-13-01T00:00:00Z",
            "1.2.3",
            "12:00",
        ] {
            let err = parse_time(bad, at(0)).unwrap_err();
            assert!(err.to_string().contains("RFC 3339"), "{bad}: {err}");
        }
    }

    #[test]
    fn engine_timestamps() {
        assert_eq!(
            parse_engine_timestamp("2024-05-01T12:00:00.000000007Z"),
            Some(at(MAY_1_NOON) + Duration::from_nanos(7))
        );
        assert_eq!(parse_engine_timestamp("hello"), None);
        assert_eq!(parse_engine_timestamp("2024-05-01Tgarbage-garbage"), None);
    }
}
