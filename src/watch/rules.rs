//! Which changes a `develop.watch` rule acts on.
//!
//! A rule's `ignore` patterns are `.dockerignore` patterns relative to the
//! rule's `path` (as compose reads them); `include` patterns are globs
//! relative to it too, matched against the whole relative path or the file
//! name. Editors' temporary, swap and backup files are never a change, and
//! `.git` and `node_modules` are never watched. A rebuild rule also honours
//! its build context's `.dockerignore`, and every rule the `.gitignore`
//! files under its path.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::gitignore::Gitignore;

use crate::build::ignore::IgnoreRules;
use crate::model::types::{ServiceHook, WatchAction, WatchRule};

use super::WatchError;

/// Directories never watched, whatever the rules say.
pub const NEVER_WATCHED: &[&str] = &[".git", "node_modules"];

/// Whether a file name is an editor's temporary, swap or backup file.
#[must_use]
pub fn is_editor_noise(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
        || name == ".DS_Store"
}

/// One compiled `develop.watch` rule of one service.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// The service the rule belongs to.
    pub service: String,
    /// The rule's action.
    pub action: WatchAction,
    /// The watched path, absolute.
    pub path: PathBuf,
    /// Where synced files go in the container.
    pub target: Option<String>,
    /// The command of `sync+exec`.
    pub exec: Option<ServiceHook>,
    /// Sync the whole path when watching starts.
    pub initial_sync: bool,
    ignore: IgnoreRules,
    include: Option<GlobSet>,
    /// A rebuild rule's build context and its `.dockerignore`.
    context: Option<(PathBuf, IgnoreRules)>,
    gitignores: Vec<Gitignore>,
}

impl Trigger {
    /// Compiles `rule` of `service`; relative paths are taken from
    /// `project_dir`. `context` is the service's build context with its
    /// `.dockerignore` rules (used by rebuild rules).
    ///
    /// # Errors
    /// An invalid `ignore` or `include` pattern.
    pub fn new(
        service: &str,
        rule: &WatchRule,
        project_dir: &Path,
        context: Option<(PathBuf, IgnoreRules)>,
    ) -> Result<Self, WatchError> {
        let invalid = |message: String| WatchError::Pattern {
            service: service.to_owned(),
            path: rule.path.clone(),
            message,
        };
        let ignore =
            IgnoreRules::parse(&rule.ignore.join("\n")).map_err(|e| invalid(e.to_string()))?;
        let include = if rule.include.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for pattern in &rule.include {
                set.add(
                    Glob::new(pattern.trim_start_matches("./"))
                        .map_err(|e| invalid(e.to_string()))?,
                );
            }
            Some(set.build().map_err(|e| invalid(e.to_string()))?)
        };
        let path = lexical_clean(&project_dir.join(&rule.path));
        Ok(Self {
            service: service.to_owned(),
            action: rule.action,
            path,
            target: rule.target.clone(),
            exec: rule.exec.clone(),
            initial_sync: rule.initial_sync,
            ignore,
            include,
            context: if rule.action == WatchAction::Rebuild {
                context
            } else {
                None
            },
            gitignores: Vec::new(),
        })
    }

    /// Adds the rules of a `.gitignore` file found under the rule's path.
    pub fn add_gitignore(&mut self, file: &Path) {
        let (gi, _) = Gitignore::new(file);
        if !gi.is_empty() {
            self.gitignores.push(gi);
        }
    }

    /// The path relative to the rule's path, `/`-separated, when it is
    /// under it ("" for the path itself).
    #[must_use]
    pub fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.path).ok()?;
        Some(
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// Whether a change of `path` (absolute) triggers the rule.
    #[must_use]
    pub fn matches(&self, path: &Path) -> bool {
        let Some(rel) = self.relative(path) else {
            return false;
        };
        if rel
            .split('/')
            .any(|part| NEVER_WATCHED.contains(&part) || is_editor_noise(part))
        {
            return false;
        }
        if !rel.is_empty() && self.ignore.is_excluded(&rel) {
            return false;
        }
        if let Some(include) = &self.include {
            let name = rel.rsplit('/').next().unwrap_or("");
            if !include.is_match(&rel) && !include.is_match(name) {
                return false;
            }
        }
        if let Some((context, rules)) = &self.context
            && let Ok(in_context) = path.strip_prefix(context)
        {
            let in_context = in_context.to_string_lossy().replace('\\', "/");
            if !in_context.is_empty() && rules.is_excluded(&in_context) {
                return false;
            }
        }
        !self.gitignored(path, false)
    }

    /// Whether the directory `dir` (absolute) can be left unwatched: nothing
    /// under it can trigger the rule.
    #[must_use]
    pub fn prunes_dir(&self, dir: &Path) -> bool {
        let Some(rel) = self.relative(dir) else {
            // Above the rule's path: only its ancestors are walked.
            return !self.path.starts_with(dir);
        };
        if rel.is_empty() {
            return false;
        }
        if rel.split('/').any(|part| NEVER_WATCHED.contains(&part)) {
            return true;
        }
        if self.ignore.is_excluded(&rel) && !self.ignore.may_include_under(&rel) {
            return true;
        }
        if let Some((context, rules)) = &self.context
            && let Ok(in_context) = dir.strip_prefix(context)
        {
            let in_context = in_context.to_string_lossy().replace('\\', "/");
            if !in_context.is_empty()
                && rules.is_excluded(&in_context)
                && !rules.may_include_under(&in_context)
            {
                return true;
            }
        }
        self.gitignored(dir, true)
    }

    fn gitignored(&self, path: &Path, is_dir: bool) -> bool {
        self.gitignores.iter().any(|gi| {
            path.starts_with(gi.path()) && gi.matched_path_or_any_parents(path, is_dir).is_ignore()
        })
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system.
#[must_use]
pub fn lexical_clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
