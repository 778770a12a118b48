//! `healthcheck`: the command the engine runs to tell whether a service's
//! container is healthy, and how often.
//!
//! The test is normalized to the engine's list form: a string is run by
//! the container's shell (`["CMD-SHELL", "curl -f localhost"]`); a list
//! starts with `CMD` (run directly), `CMD-SHELL`, or `NONE` (no check).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::command::health_test;
use super::de;
use super::duration::Duration;

/// A service's healthcheck.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// The check: a string run by the container's shell, or a list starting
    /// with `CMD`, `CMD-SHELL` or `NONE`. Unset: the image's own check.
    #[serde(
        default,
        deserialize_with = "health_test::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub test: Option<Vec<String>>,
    /// Time between checks (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time one check may take (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Consecutive failures before the container is unhealthy (default 3).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub retries: Option<u64>,
    /// Time the container gets to start, during which failures do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    /// Disable the image's healthcheck.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub disable: bool,
}

impl Healthcheck {
    /// The engine's default interval and timeout.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
    /// The engine's default number of retries.
    pub const DEFAULT_RETRIES: u64 = 3;

    /// Whether the check is turned off (`disable: true` or `test: [NONE]`).
    #[must_use]
    pub fn is_disabled(&self) -> bool {
        self.disable
            || self
                .test
                .as_ref()
                .and_then(|t| t.first())
                .is_some_and(|t| t == "NONE")
    }

    /// Whether the service has a check of its own (a test that is not
    /// `NONE`); without one, only the image's check can make it healthy.
    #[must_use]
    pub fn has_test(&self) -> bool {
        !self.is_disabled() && self.test.as_ref().is_some_and(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<Healthcheck, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn string_test_runs_in_the_shell() {
        let h = read("{test: echo \"hello world\", interval: 10s, timeout: 1s, retries: 5, start_period: 15s, start_interval: 5s}").unwrap();
        assert_eq!(
            h.test.as_deref().unwrap(),
            ["CMD-SHELL", "echo \"hello world\""]
        );
        assert_eq!(h.interval, Some(Duration::from_secs(10)));
        assert_eq!(h.retries, Some(5));
        assert_eq!(h.start_interval, Some(Duration::from_secs(5)));
        assert!(h.has_test());
    }

    #[test]
    fn list_tests() {
        let h = read("{test: [CMD, pg_isready]}").unwrap();
        assert_eq!(h.test.as_deref().unwrap(), ["CMD", "pg_isready"]);
        let h = read("{test: [NONE]}").unwrap();
        assert!(h.is_disabled() && !h.has_test());
        let h = read("{disable: true}").unwrap();
        assert!(h.is_disabled());
        let err = read("{test: [curl, -f, localhost]}").unwrap_err();
        assert!(
            err.contains("starts with CMD, CMD-SHELL or NONE, not \"curl\""),
            "{err}"
        );
    }

    #[test]
    fn bad_durations_name_the_key() {
        let err = read("{interval: 5x}").unwrap_err();
        assert!(
            err.starts_with("interval: invalid duration \"5x\""),
            "{err}"
        );
        let err = read("{retries: many}").unwrap_err();
        assert_eq!(
            err,
            "retries: expected a whole number, 0 or more, found \"many\""
        );
    }

    #[test]
    fn serializes_the_list_form_and_durations() {
        let h = read("{test: curl -f localhost, interval: 90s}").unwrap();
        assert_eq!(
            serde_yaml::to_string(&h).unwrap(),
            "test:\n- CMD-SHELL\n- curl -f localhost\ninterval: 1m30s\n"
        );
    }
}
