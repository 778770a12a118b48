//! Batches of changes and what they ask of each service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::model::types::{ServiceHook, WatchAction};

use super::rules::Trigger;

/// How long the file system must stay quiet before a batch is handled.
pub const QUIET: Duration = Duration::from_millis(30);

/// The longest a batch waits for quiet under a steady stream of changes.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// A changed path, as the watcher saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    /// The change made it: it was not there before.
    pub created: bool,
}

impl Change {
    /// A change to a path that may have been there before.
    #[must_use]
    pub fn to(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            created: false,
        }
    }

    /// The creation of a path.
    #[must_use]
    pub fn created(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            created: true,
        }
    }
}

/// The next batch of changed paths: waits for one change, then gathers the
/// ones that follow until `quiet` passes without one (or `max_wait` passes
/// in all). `None` when the channel is closed and empty. Changes that come
/// while the caller acts on a batch wait in the channel for the next one:
/// none is lost.
///
/// A path whose first change in the batch created it and that is gone at
/// its end (a temporary file written and renamed over the real one, as
/// atomic saves do) was never there for a container to have: it is left
/// out, so such a save is one change.
pub async fn next_batch(
    rx: &mut mpsc::UnboundedReceiver<Change>,
    quiet: Duration,
    max_wait: Duration,
) -> Option<BTreeSet<PathBuf>> {
    let first = rx.recv().await?;
    let mut batch = BTreeMap::from([(first.path, first.created)]);
    let deadline = Instant::now() + max_wait;
    loop {
        let until = (Instant::now() + quiet).min(deadline);
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(change)) => {
                batch.entry(change.path).or_insert(change.created);
            }
            Ok(None) | Err(_) => break,
        }
    }
    Some(
        batch
            .into_iter()
            .filter(|(path, created)| !created || path.exists())
            .map(|(path, _)| path)
            .collect(),
    )
}

/// Files to copy into a container and paths to delete there, for one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOp {
    /// `(host file, container path)` of files that exist.
    pub copy: Vec<(PathBuf, String)>,
    /// Container paths of files that no longer exist here.
    pub delete: Vec<String>,
}

impl SyncOp {
    /// How many files it touches.
    #[must_use]
    pub fn len(&self) -> usize {
        self.copy.len() + self.delete.len()
    }

    /// Whether it touches nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one batch asks of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePlan {
    /// The service.
    pub service: String,
    /// Rebuild its image and recreate it (syncs and restarts are moot).
    pub rebuild: bool,
    /// Files to sync.
    pub sync: SyncOp,
    /// Restart the container after syncing.
    pub restart: bool,
    /// Commands to run after syncing (`sync+exec`).
    pub exec: Vec<ServiceHook>,
}

/// The container path of `path` under a sync rule's `target`.
fn container_path(trigger: &Trigger, path: &Path) -> Option<String> {
    let target = trigger.target.as_deref()?;
    let rel = trigger.relative(path)?;
    let target = target.trim_end_matches('/');
    Some(if rel.is_empty() {
        if target.is_empty() {
            "/".into()
        } else {
            target.to_owned()
        }
    } else {
        format!("{target}/{rel}")
    })
}

/// Adds `path` (a file, a directory whose files all count, or a path that
/// no longer exists) to `op`.
fn add_to_sync(trigger: &Trigger, path: &Path, op: &mut SyncOp) {
    if path.is_dir() {
        let walk = ignore::WalkBuilder::new(path)
            .hidden(false)
            .git_ignore(false)
            .git_exclude(false)
            .git_global(false)
            .parents(false)
            .filter_entry({
                let trigger = trigger.clone();
                move |e| !e.file_type().is_some_and(|t| t.is_dir()) || !trigger.prunes_dir(e.path())
            })
            .build();
        for entry in walk.flatten() {
            if entry.file_type().is_some_and(|t| t.is_file())
                && trigger.matches(entry.path())
                && let Some(dest) = container_path(trigger, entry.path())
            {
                op.copy.push((entry.path().to_owned(), dest));
            }
        }
    } else if let Some(dest) = container_path(trigger, path) {
        if path.exists() {
            op.copy.push((path.to_owned(), dest));
        } else {
            op.delete.push(dest);
        }
    }
}

/// What a batch of changed paths asks of each service, in service order.
#[must_use]
pub fn plan(triggers: &[Trigger], batch: &BTreeSet<PathBuf>) -> Vec<ServicePlan> {
    let mut plans: BTreeMap<&str, ServicePlan> = BTreeMap::new();
    for trigger in triggers {
        let hits: Vec<&PathBuf> = batch.iter().filter(|p| trigger.matches(p)).collect();
        if hits.is_empty() {
            continue;
        }
        let plan = plans
            .entry(trigger.service.as_str())
            .or_insert_with(|| ServicePlan {
                service: trigger.service.clone(),
                ..ServicePlan::default()
            });
        match trigger.action {
            WatchAction::Rebuild => plan.rebuild = true,
            WatchAction::Restart => plan.restart = true,
            WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec => {
                for path in hits {
                    add_to_sync(trigger, path, &mut plan.sync);
                }
                if trigger.action == WatchAction::SyncRestart {
                    plan.restart = true;
                }
                if trigger.action == WatchAction::SyncExec
                    && let Some(exec) = &trigger.exec
                    && !plan.exec.contains(exec)
                {
                    plan.exec.push(exec.clone());
                }
            }
        }
    }
    plans
        .into_values()
        .map(|mut p| {
            p.sync.copy.sort();
            p.sync.copy.dedup();
            p.sync.delete.sort();
            p.sync.delete.dedup();
            if p.rebuild {
                p.sync = SyncOp::default();
                p.restart = false;
                p.exec.clear();
            }
            p
        })
        .filter(|p| p.rebuild || p.restart || !p.sync.is_empty() || !p.exec.is_empty())
        .collect()
}

/// Every file under a sync rule's path, for `initial_sync`.
#[must_use]
pub fn initial_sync(trigger: &Trigger) -> SyncOp {
    let mut op = SyncOp::default();
    if trigger.action.syncs() {
        add_to_sync(trigger, &trigger.path, &mut op);
    }
    op
}

/// A tar of `copy`, with each file at its container path (relative to
/// `/`), to unpack at `/`.
///
/// # Errors
/// A file that cannot be read.
pub fn archive(copy: &[(PathBuf, String)]) -> std::io::Result<bytes::Bytes> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    for (host, dest) in copy {
        let name = dest.trim_start_matches('/');
        let mut file = std::fs::File::open(host)?;
        tar.append_file(name, &mut file)?;
    }
    Ok(tar.into_inner()?.into())
}
