//! Watching the file system: one non-recursive watch per directory that a
//! rule can care about, so ignored trees (`node_modules`, `.git`,
//! `.gitignore`d and `.dockerignore`d directories, a rule's `ignore`) cost
//! no watch at all. Directories created later are watched as they appear.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::WatchError;
use super::plan::Change;
use super::rules::{NEVER_WATCHED, Trigger};

/// Walks each rule's path and returns the directories to watch; reads the
/// `.gitignore` files found on the way into the rules.
#[must_use]
pub fn prepare(triggers: &mut [Trigger]) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for trigger in triggers.iter_mut() {
        if !trigger.path.is_dir() {
            // A file (or a path not there yet): watch where it lives.
            if let Some(parent) = trigger.path.parent() {
                dirs.insert(parent.to_owned());
            }
            continue;
        }
        let (found, gitignores) = walk(&trigger.path, trigger);
        for file in gitignores {
            trigger.add_gitignore(&file);
        }
        dirs.extend(found);
    }
    dirs
}

/// The directories under `root` that `trigger` does not prune (gitignored
/// ones included in the pruning), and the `.gitignore` files among them.
fn walk(root: &Path, trigger: &Trigger) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut dirs = Vec::new();
    let mut gitignores = Vec::new();
    let trigger = trigger.clone();
    let walk = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .require_git(false)
        .git_global(false)
        .git_exclude(false)
        .parents(true)
        .filter_entry(move |e| {
            !e.file_type().is_some_and(|t| t.is_dir())
                || !(NEVER_WATCHED.contains(&e.file_name().to_string_lossy().as_ref())
                    || trigger.prunes_dir(e.path()))
        })
        .build();
    for entry in walk.flatten() {
        let Some(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            dirs.push(entry.path().to_owned());
        } else if entry.file_name() == ".gitignore" {
            gitignores.push(entry.path().to_owned());
        }
    }
    (dirs, gitignores)
}

/// A running watch. Dropping it stops watching.
#[derive(Debug)]
pub struct Watcher {
    watched: Arc<Mutex<BTreeSet<PathBuf>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watcher {
    /// Watches `dirs` (from [`prepare`]) and the directories of `files`,
    /// and sends every changed path to `tx`: the paths under `dirs` the
    /// triggers may care about, and `files` themselves.
    ///
    /// # Errors
    /// The system's limit of watches is reached
    /// ([`WatchError::InotifyLimit`]), or a directory cannot be watched.
    pub fn start(
        triggers: Arc<Vec<Trigger>>,
        dirs: BTreeSet<PathBuf>,
        files: Vec<PathBuf>,
        tx: mpsc::UnboundedSender<Change>,
    ) -> Result<Self, WatchError> {
        let (raw_tx, mut raw_rx) = mpsc::unbounded_channel();
        let mut inner = notify::recommended_watcher(move |event| {
            let _ = raw_tx.send(event);
        })
        .map_err(|e| WatchError::from_notify(e, None))?;
        let mut watched = BTreeSet::new();
        let file_dirs: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_owned))
            .collect();
        for dir in dirs.iter().chain(&file_dirs) {
            if watched.contains(dir) {
                continue;
            }
            match inner.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir.clone());
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                    return Err(WatchError::from_notify(e, Some(dir)));
                }
                // Gone since the walk: nothing to watch.
                Err(_) if !dir.exists() => {}
                Err(e) => return Err(WatchError::from_notify(e, Some(dir))),
            }
        }
        let watched = Arc::new(Mutex::new(watched));
        let shared = Arc::clone(&watched);
        let files: BTreeSet<PathBuf> = files.into_iter().collect();
        let task = tokio::spawn(async move {
            while let Some(event) = raw_rx.recv().await {
                let Ok(event): notify::Result<notify::Event> = event else {
                    continue;
                };
                if matches!(event.kind, EventKind::Access(_)) {
                    continue;
                }
                let created = matches!(event.kind, EventKind::Create(_));
                for path in event.paths {
                    if files.contains(&path) {
                        let _ = tx.send(Change { path, created });
                        continue;
                    }
                    let relevant: Vec<&Trigger> = triggers
                        .iter()
                        .filter(|t| path.starts_with(&t.path))
                        .collect();
                    if relevant.is_empty() {
                        continue;
                    }
                    if path.is_dir() && !relevant.iter().all(|t| t.prunes_dir(&path)) {
                        // A new directory: watch it and what is already in it.
                        for trigger in &relevant {
                            for dir in walk(&path, trigger).0 {
                                let mut set = shared.lock().unwrap_or_else(|e| e.into_inner());
                                if set.contains(&dir) {
                                    continue;
                                }
                                if inner.watch(&dir, RecursiveMode::NonRecursive).is_ok() {
                                    set.insert(dir);
                                }
                            }
                        }
                    }
                    if event.kind.is_remove() {
                        let mut set = shared.lock().unwrap_or_else(|e| e.into_inner());
                        if set.remove(&path) {
                            let _ = inner.unwatch(&path);
                        }
                    }
                    if relevant.iter().any(|t| t.matches(&path)) {
                        let _ = tx.send(Change { path, created });
                    }
                }
            }
        });
        Ok(Self { watched, task })
    }

    /// How many directories are watched (one inotify watch each).
    #[must_use]
    pub fn watches(&self) -> usize {
        self.watched.lock().map_or(0, |s| s.len())
    }
}
