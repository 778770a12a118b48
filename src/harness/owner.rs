//! Who owns a test stack, and finding stacks whose owner is gone.
//!
//! A test process that is killed (SIGKILL, a CI timeout, a debugger
//! stopped) never runs its teardown. So every container a harness stack
//! creates carries labels naming its owner: the host, the process id and
//! the process's start time (so a recycled pid is not mistaken for the
//! owner). [`test_projects`] lists the stacks and whether their owner runs;
//! [`prune`] removes those whose owner is gone (the harness does so when it
//! first brings a stack up in a process), and `muster down
//! --all-test-projects` removes them on demand, with the kept ones.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::{Engine, LabelFilter};
use crate::orchestrator::down::{DownOptions, down};
use crate::orchestrator::error::OrchestratorError;
use crate::orchestrator::events::Reporter;
use crate::orchestrator::spec::labels as compose;

/// The labels a harness stack's containers carry.
pub mod labels {
    /// Marks a container as part of a test stack; the value is always `1`.
    pub const HARNESS: &str = "dev.muster.harness";
    /// The host the owning process ran on.
    pub const HOST: &str = "dev.muster.harness.host";
    /// The owning process's id.
    pub const PID: &str = "dev.muster.harness.pid";
    /// The owning process's start time (Linux: clock ticks after boot,
    /// field 22 of `/proc/<pid>/stat`), to tell a recycled pid apart.
    pub const PROCESS_START: &str = "dev.muster.harness.process-start";
    /// When the stack was created, in seconds since the Unix epoch.
    pub const CREATED: &str = "dev.muster.harness.created";
    /// `1` when the stack is to be left up on purpose (`muster test
    /// --keep`): the harness does not prune it by itself.
    pub const KEEP: &str = "dev.muster.harness.keep";
}

/// The labels for a stack owned by this process.
#[must_use]
pub fn owner_labels(keep: bool) -> BTreeMap<String, String> {
    let pid = std::process::id();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut out = BTreeMap::from([
        (labels::HARNESS.to_owned(), "1".to_owned()),
        (labels::HOST.to_owned(), hostname()),
        (labels::PID.to_owned(), pid.to_string()),
        (labels::CREATED.to_owned(), created.to_string()),
    ]);
    if let Some(start) = process_start(pid) {
        out.insert(labels::PROCESS_START.to_owned(), start);
    }
    if keep {
        out.insert(labels::KEEP.to_owned(), "1".to_owned());
    }
    out
}

/// This machine's name, as the kernel knows it (empty when unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The start time of process `pid` (Linux), `None` when it does not run
/// or it cannot be told.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields after the last `)`. Field 22 is the 20th after it.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19).map(str::to_owned)
}

/// Whether the process that created a stack with these labels still runs:
/// `None` when it cannot be told (another host, or not Linux).
#[must_use]
pub fn owner_alive(stack_labels: &BTreeMap<String, String>) -> Option<bool> {
    let host = stack_labels.get(labels::HOST)?;
    if *host != hostname() || !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    let pid: u32 = stack_labels.get(labels::PID)?.parse().ok()?;
    Some(
        match (process_start(pid), stack_labels.get(labels::PROCESS_START)) {
            (None, _) => false,
            (Some(now), Some(then)) => now == *then,
            (Some(_), None) => true,
        },
    )
}

/// A test stack found on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestProject {
    /// Its compose project name.
    pub project: String,
    /// How many containers it has.
    pub containers: usize,
    /// The owning process's id, as labelled.
    pub pid: Option<u32>,
    /// Whether the owner still runs; `None` when it cannot be told.
    pub owner_alive: Option<bool>,
    /// Whether it was left up on purpose (`--keep`).
    pub kept: bool,
}

impl TestProject {
    /// Whether the harness removes it by itself: its owner is known to be
    /// gone, and it was not kept on purpose.
    #[must_use]
    pub fn abandoned(&self) -> bool {
        self.owner_alive == Some(false) && !self.kept
    }
}

/// Every test stack on the engine, by project name: found by its
/// containers, or by its networks when it was killed before it had any.
///
/// # Errors
/// When the engine cannot list containers or networks.
pub async fn test_projects(engine: &dyn Engine) -> Result<Vec<TestProject>, OrchestratorError> {
    let filter = [LabelFilter::exists(labels::HARNESS)];
    let listing = |e| OrchestratorError::engine("cannot list test stacks", e);
    let (containers, networks) = tokio::join!(
        engine.list_containers(&filter),
        engine.list_networks(&filter)
    );
    let containers = containers.map_err(listing)?;
    let networks = networks.map_err(listing)?;
    let mut found: BTreeMap<String, TestProject> = BTreeMap::new();
    let objects = containers
        .iter()
        .map(|c| (&c.labels, 1))
        .chain(networks.iter().map(|n| (&n.labels, 0)));
    for (object_labels, containers) in objects {
        let Some(project) = object_labels.get(compose::PROJECT) else {
            continue;
        };
        let entry = found.entry(project.clone()).or_insert_with(|| TestProject {
            project: project.clone(),
            containers: 0,
            pid: object_labels.get(labels::PID).and_then(|p| p.parse().ok()),
            owner_alive: owner_alive(object_labels),
            kept: object_labels.get(labels::KEEP).map(String::as_str) == Some("1"),
        });
        entry.containers += containers;
    }
    Ok(found.into_values().collect())
}

/// Takes a test stack down: its containers, networks and volumes, with no
/// grace period (a test stack holds nothing worth a clean stop).
///
/// # Errors
/// As [`down`].
pub async fn remove(
    engine: &dyn Engine,
    project: &str,
    reporter: &dyn Reporter,
) -> Result<(), OrchestratorError> {
    let options = DownOptions {
        remove_volumes: true,
        remove_orphans: true,
        timeout: Some(std::time::Duration::ZERO),
        ..DownOptions::default()
    };
    down(engine, project, None, &options, reporter).await?;
    // The endpoints file of a `muster test` that was killed.
    let _ = std::fs::remove_file(super::endpoints_file(project));
    Ok(())
}

/// Removes the test stacks whose owning process is gone (not those left up
/// on purpose) and returns their names.
///
/// # Errors
/// When the engine cannot list them; a stack that cannot be removed is
/// listed in [`OrchestratorError::Incomplete`] after the others are done.
pub async fn prune(
    engine: &dyn Engine,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, OrchestratorError> {
    let abandoned: Vec<String> = test_projects(engine)
        .await?
        .into_iter()
        .filter(TestProject::abandoned)
        .map(|p| p.project)
        .collect();
    let mut errors = Vec::new();
    for project in &abandoned {
        if let Err(e) = remove(engine, project, reporter).await {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(abandoned)
    } else {
        Err(OrchestratorError::Incomplete {
            operation: "removal of abandoned test stacks".to_owned(),
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_owns_a_live_stack() {
        let labels = owner_labels(false);
        assert_eq!(labels.get(labels::HARNESS).map(String::as_str), Some("1"));
        if cfg!(target_os = "linux") {
            assert_eq!(owner_alive(&labels), Some(true));
        }
    }

    #[test]
    fn a_gone_or_recycled_pid_is_not_the_owner() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let mut labels = owner_labels(false);
        labels.insert(labels::PROCESS_START.to_owned(), "1".to_owned());
        assert_eq!(owner_alive(&labels), Some(false), "recycled pid");
        // Beyond the kernel's default pid_max.
        labels.insert(labels::PID.to_owned(), "4194305".to_owned());
        assert_eq!(owner_alive(&labels), Some(false), "no such process");
        labels.insert(labels::HOST.to_owned(), "another-host-entirely".to_owned());
        assert_eq!(owner_alive(&labels), None, "another host");
    }

    #[test]
    fn only_stacks_with_a_gone_owner_are_abandoned() {
        let project = |owner_alive, kept| TestProject {
            project: "p".into(),
            containers: 1,
            pid: Some(1),
            owner_alive,
            kept,
        };
        assert!(project(Some(false), false).abandoned());
        assert!(!project(Some(false), true).abandoned());
        assert!(!project(Some(true), false).abandoned());
        assert!(!project(None, false).abandoned());
    }

    #[tokio::test]
    async fn a_stack_of_a_gone_process_is_pruned_even_with_only_a_network_left() {
        use crate::engine::NetworkSpec;
        use crate::engine::fake::FakeEngine;
        use crate::orchestrator::events::Silent;

        let engine = FakeEngine::new();
        let network = |project: &str, pid: &str| {
            let mut labels = owner_labels(false);
            labels.insert(labels::PID.to_owned(), pid.to_owned());
            labels.insert(compose::PROJECT.to_owned(), project.to_owned());
            NetworkSpec {
                name: format!("{project}_default"),
                labels,
                ..NetworkSpec::default()
            }
        };
        let own = std::process::id().to_string();
        engine
            .create_network(&network("gone", "4194305"))
            .await
            .expect("create");
        engine
            .create_network(&network("alive", &own))
            .await
            .expect("create");
        let found = test_projects(&engine).await.expect("list");
        assert_eq!(found.len(), 2, "{found:?}");
        let pruned = prune(&engine, &Silent).await.expect("prune");
        if cfg!(target_os = "linux") {
            assert_eq!(pruned, ["gone"]);
            assert_eq!(engine.network_names(), ["alive_default"]);
        }
    }
}
