//! `develop.watch` rules and lifecycle hooks (`post_start`, `pre_stop`,
//! and a watch rule's `exec`): what to do when source files change, and
//! commands to run in a service's container.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::command::Command;
use super::de;

/// Development settings of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Develop {
    /// What to do when files change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchRule>,
}

/// What a watch rule does with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WatchAction {
    /// Copy changed files into the running container.
    #[serde(rename = "sync")]
    Sync,
    /// Rebuild the image and recreate the container.
    #[serde(rename = "rebuild")]
    Rebuild,
    /// Copy changed files, then restart the container.
    #[serde(rename = "sync+restart")]
    SyncRestart,
    /// Copy changed files, then run `exec` in the container.
    #[serde(rename = "sync+exec")]
    SyncExec,
    /// Restart the container.
    #[serde(rename = "restart")]
    Restart,
}

impl WatchAction {
    /// The name compose uses (`sync+restart`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Rebuild => "rebuild",
            Self::SyncRestart => "sync+restart",
            Self::SyncExec => "sync+exec",
            Self::Restart => "restart",
        }
    }

    /// Whether the action copies files into the container.
    #[must_use]
    pub fn syncs(self) -> bool {
        matches!(self, Self::Sync | Self::SyncRestart | Self::SyncExec)
    }
}

impl fmt::Display for WatchAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `develop.watch` rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRule {
    /// The path to watch (relative to the project directory).
    pub path: String,
    /// What to do on a change.
    pub action: WatchAction,
    /// Where synced files go in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Patterns (relative to `path`) of changes to ignore.
    #[serde(
        default,
        deserialize_with = "de::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub ignore: Vec<String>,
    /// Patterns (relative to `path`) of the only changes to act on.
    #[serde(
        default,
        deserialize_with = "de::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub include: Vec<String>,
    /// Sync the whole path once when watching starts.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub initial_sync: bool,
    /// The command `sync+exec` runs after syncing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ServiceHook>,
}

/// A command run in a service's container: a lifecycle hook, or a watch
/// rule's `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceHook {
    /// The command to run.
    pub command: Command,
    /// The user to run it as.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub user: Option<String>,
    /// Run it with extended privileges.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub privileged: bool,
    /// The working directory to run it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Environment variables for it; a name without a value is taken from
    /// the shell.
    #[serde(
        default,
        deserialize_with = "de::mapping_with_equals",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub environment: IndexMap<String, Option<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<Develop, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn watch_rules() {
        let d = read(
            "{watch: [\
              {path: ./src, action: sync, target: /app/src, ignore: node_modules/, initial_sync: true}, \
              {path: package.json, action: rebuild}, \
              {path: ./conf, action: sync+restart, target: /etc/app, include: ['*.conf']}, \
              {path: ./www, action: sync+exec, target: /www, exec: {command: reload now, user: root, environment: [A=1]}}, \
              {path: ./x, action: restart}]}",
        )
        .unwrap();
        let w = &d.watch;
        assert_eq!(w[0].action, WatchAction::Sync);
        assert_eq!(w[0].ignore, ["node_modules/"]);
        assert!(w[0].initial_sync);
        assert_eq!(w[1].action, WatchAction::Rebuild);
        assert_eq!(w[2].action, WatchAction::SyncRestart);
        assert_eq!(w[2].include, ["*.conf"]);
        let exec = w[3].exec.as_ref().unwrap();
        assert_eq!(exec.command.args(), ["reload", "now"]);
        assert_eq!(exec.environment["A"].as_deref(), Some("1"));
        assert_eq!(w[4].action, WatchAction::Restart);
        assert!(w[3].action.syncs() && !w[1].action.syncs());
    }

    #[test]
    fn bad_rules() {
        let err = read("{watch: [{path: a, action: copy}]}").unwrap_err();
        assert!(
            err.starts_with("watch[0].action: unknown variant `copy`, expected one of `sync`"),
            "{err}"
        );
        let err = read("{watch: [{action: sync}]}").unwrap_err();
        assert!(err.contains("missing field `path`"), "{err}");
    }
}
