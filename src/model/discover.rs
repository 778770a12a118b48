//! Finding a project's files and name, as compose does.
//!
//! Without `-f`, compose looks for `compose.yaml` (and its older spellings)
//! in the working directory and then in each parent, and adds the matching
//! `*.override.*` file beside it. The project name comes from `-p`, then
//! `COMPOSE_PROJECT_NAME`, then the file's `name:`, then the project
//! directory's name, and is normalized to what the engine accepts.

use std::path::{Path, PathBuf};

use super::error::{ErrorKind, LoadError};

/// The file names compose looks for, in order of preference.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The override files compose adds beside a discovered file.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// What discovery found: the files to load, in order, and any warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The compose file, then its override file when there is one.
    pub files: Vec<PathBuf>,
    /// Set when a directory holds several candidate files.
    pub warning: Option<String>,
}

/// Looks for a compose file in `dir` and then in each of its parents.
///
/// # Errors
/// When no directory up to the root holds one.
pub fn discover(dir: &Path) -> Result<Discovered, LoadError> {
    for candidate_dir in dir.ancestors() {
        let found: Vec<PathBuf> = DEFAULT_FILES
            .iter()
            .map(|name| candidate_dir.join(name))
            .filter(|p| p.is_file())
            .collect();
        let Some(first) = found.first() else {
            continue;
        };
        let warning = (found.len() > 1).then(|| {
            format!(
                "found several compose files in {}: {}; using {}",
                candidate_dir.display(),
                found
                    .iter()
                    .filter_map(|p| p.file_name()?.to_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                first.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            )
        });
        let mut files = vec![first.clone()];
        if let Some(over) = OVERRIDE_FILES
            .iter()
            .map(|name| candidate_dir.join(name))
            .find(|p| p.is_file())
        {
            files.push(over);
        }
        return Ok(Discovered { files, warning });
    }
    Err(LoadError::new(
        ErrorKind::Io,
        format!(
            "no compose file found in {} or any parent directory",
            dir.display()
        ),
    )
    .help(format!(
        "create {} here, or name a file with -f (or COMPOSE_FILE)",
        DEFAULT_FILES[0]
    )))
}

/// Normalizes a name the way compose turns a directory name into a
/// project name: lowercase, only `a-z`, `0-9`, `_` and `-`, starting with a
/// letter or digit.
#[must_use]
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Checks a project name given explicitly (`-p`, `COMPOSE_PROJECT_NAME`,
/// `name:`); compose rejects these rather than rewriting them.
///
/// # Errors
/// When the name is empty or has characters the engine does not accept.
pub fn check_project_name(name: &str, from: &str) -> Result<(), LoadError> {
    if !name.is_empty() && normalize_project_name(name) == name {
        return Ok(());
    }
    let suggestion = normalize_project_name(name);
    let mut err = LoadError::new(
        ErrorKind::Invalid,
        format!(
            "invalid project name {name:?} (from {from}): it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
        ),
    );
    if !suggestion.is_empty() {
        err = err.help(format!("use {suggestion:?}"));
    }
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_compose() {
        assert_eq!(
            normalize_project_name("UNNORMALIZED PATH"),
            "unnormalizedpath"
        );
        assert_eq!(normalize_project_name("My_App-2"), "my_app-2");
        assert_eq!(normalize_project_name("__x.y"), "xy");
        assert_eq!(normalize_project_name("..."), "");
    }

    #[test]
    fn explicit_names_are_checked_not_rewritten() {
        assert!(check_project_name("shop", "-p").is_ok());
        let err = check_project_name("Shop", "-p").unwrap_err();
        assert!(
            err.message
                .contains("invalid project name \"Shop\" (from -p)")
        );
        assert_eq!(err.help.as_deref(), Some("use \"shop\""));
    }

    #[test]
    fn finds_files_in_parents_with_override() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), "services: {}").unwrap();
        std::fs::write(dir.path().join("docker-compose.override.yml"), "").unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let found = discover(&sub).unwrap();
        assert_eq!(
            found.files,
            vec![
                dir.path().join("docker-compose.yml"),
                dir.path().join("docker-compose.override.yml")
            ]
        );
        assert_eq!(found.warning, None);
    }

    #[test]
    fn prefers_compose_yaml_and_warns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), "").unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), "").unwrap();
        let found = discover(dir.path()).unwrap();
        assert_eq!(found.files, vec![dir.path().join("compose.yaml")]);
        assert!(found.warning.unwrap().contains("using compose.yaml"));
    }
}
