//! `.dockerignore`: which files of a build context are sent, by Docker's
//! own rules.
//!
//! The rules are moby's `patternmatcher` (what the docker CLI applies), not
//! gitignore's:
//!
//! - a pattern is matched against the whole path relative to the context
//!   (`foo` is only `./foo`, not `a/foo`; `**/foo` is any `foo`), after
//!   Go's `filepath.Clean` and without a leading `/`;
//! - `*` and `?` do not cross `/`; `**` spans any number of directories;
//!   `[a-z]`, `[^a]` and `\` escapes as in Go's `filepath.Match`;
//! - a pattern that matches a directory excludes everything under it;
//! - `!pattern` re-includes what it matches; the last matching line wins;
//! - lines starting with `#` are comments, blank lines are ignored.
//!
//! Globs are compiled by globset, after translating the few places where
//! Go's syntax differs (`[^...]` is globset's `[!...]`; `{` and `}` are
//! literal in Go but alternation in globset).

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

/// One line of a `.dockerignore`.
#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without `!`.
    text: String,
    /// A `!` line: re-includes.
    exception: bool,
    matcher: GlobMatcher,
}

/// The rules of one `.dockerignore` file (or none: nothing is excluded).
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
    /// The file they were read from.
    pub source: Option<PathBuf>,
}

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: invalid pattern {pattern:?}: {message}")]
pub struct PatternError {
    /// The line (1-based).
    pub line: usize,
    /// The pattern as written.
    pub pattern: String,
    /// Why it is invalid.
    pub message: String,
}

impl IgnoreRules {
    /// Parses the text of a `.dockerignore`.
    ///
    /// # Errors
    /// A [`PatternError`] for a pattern that is not a valid glob (as an
    /// unclosed `[`).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let mut line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let exception = line.starts_with('!');
            if exception {
                line = line[1..].trim();
            }
            if line.is_empty() {
                continue;
            }
            let mut cleaned = clean(line);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let matcher = GlobBuilder::new(&translate(&cleaned))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| PatternError {
                    line: i + 1,
                    pattern: raw.to_owned(),
                    message: e.kind().to_string(),
                })?
                .compile_matcher();
            patterns.push(Pattern {
                text: cleaned,
                exception,
                matcher,
            });
        }
        Ok(Self {
            patterns,
            source: None,
        })
    }

    /// The rules for a build: `<Dockerfile>.dockerignore` beside the
    /// Dockerfile when there is one (it wins), else `.dockerignore` at the
    /// root of the context, else none.
    ///
    /// # Errors
    /// The file cannot be read, or a pattern is invalid (with the file).
    pub fn for_build(context: &Path, dockerfile: Option<&Path>) -> Result<Self, String> {
        let specific = dockerfile.map(|d| {
            let mut name = d.as_os_str().to_owned();
            name.push(".dockerignore");
            PathBuf::from(name)
        });
        let candidates = specific
            .into_iter()
            .chain(std::iter::once(context.join(".dockerignore")));
        for path in candidates {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let mut rules =
                        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                    rules.source = Some(path);
                    return Ok(rules);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        Ok(Self::default())
    }

    /// Whether there are no rules at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out
    /// of the context: the last pattern that matches it, or one of its
    /// parent directories, decides.
    #[must_use]
    pub fn is_excluded(&self, path: &str) -> bool {
        let parents: Vec<&str> = match path.rfind('/') {
            Some(end) => path[..end].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for pattern in &self.patterns {
            // An exclusion cannot change an excluded path, nor an exception
            // an included one.
            if pattern.exception != excluded {
                continue;
            }
            let mut matched = pattern.matcher.is_match(path);
            if !matched {
                let mut prefix = String::new();
                for dir in &parents {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(dir);
                    if pattern.matcher.is_match(&prefix) {
                        matched = true;
                        break;
                    }
                }
            }
            if matched {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether an excluded directory must still be walked, because an
    /// exception (`!`) might re-include something under it.
    #[must_use]
    pub fn may_include_under(&self, dir: &str) -> bool {
        self.patterns.iter().filter(|p| p.exception).any(|p| {
            let text = p.text.as_str();
            // Patterns that start with a wildcard can match anywhere.
            let literal: String = text
                .chars()
                .take_while(|c| !matches!(c, '*' | '?' | '[' | '\\'))
                .collect();
            let dir_slash = format!("{dir}/");
            literal.is_empty() || literal.starts_with(&dir_slash) || dir_slash.starts_with(&literal)
        })
    }
}

/// Go's `filepath.Clean` on a `/`-separated path: no `.` parts, no `//`,
/// `..` resolved lexically, no trailing `/`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's glob syntax in globset's: `[^` is `[!`, and braces are literal.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('!');
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '{' | '}' if !in_class => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).unwrap()
    }

    #[test]
    fn a_name_is_matched_at_the_root_only() {
        let r = rules("node_modules\n");
        assert!(r.is_excluded("node_modules"));
        assert!(r.is_excluded("node_modules/x/y.js"));
        assert!(!r.is_excluded("src/node_modules/y.js"));
    }

    #[test]
    fn double_star_spans_directories() {
        let r = rules("**/*.log\n");
        assert!(r.is_excluded("a.log"));
        assert!(r.is_excluded("a/b/c.log"));
        assert!(!r.is_excluded("a/b/c.txt"));
        let r = rules("docs/**\n");
        assert!(r.is_excluded("docs/a/b.md"));
        assert!(!r.is_excluded("docsx/a"));
    }

    #[test]
    fn single_star_does_not_cross_slashes() {
        let r = rules("*.md\n");
        assert!(r.is_excluded("README.md"));
        assert!(!r.is_excluded("docs/guide.md"));
        let r = rules("*/temp*\n");
        assert!(r.is_excluded("somedir/temporary.txt"));
        assert!(!r.is_excluded("somedir/sub/temp.txt"));
        assert!(!r.is_excluded("temp"));
    }

    #[test]
    fn exceptions_re_include_and_the_last_line_wins() {
        let r = rules("*.md\n!README.md\n");
        assert!(r.is_excluded("CHANGES.md"));
        assert!(!r.is_excluded("README.md"));
        let r = rules("!README.md\n*.md\n");
        assert!(r.is_excluded("README.md"));
        let r = rules("secrets\n!secrets/public.pem\n");
        assert!(r.is_excluded("secrets/private.pem"));
        assert!(!r.is_excluded("secrets/public.pem"));
        assert!(r.may_include_under("secrets"));
        assert!(!r.may_include_under("other"));
    }

    #[test]
    fn leading_slash_dots_and_comments() {
        let r = rules("# a comment\n\n/build\n./tmp/\n  dist  \nsrc/../cache\n");
        assert!(r.is_excluded("build/out.o"));
        assert!(r.is_excluded("tmp/x"));
        assert!(r.is_excluded("dist"));
        assert!(r.is_excluded("cache"));
        assert!(!r.is_excluded("# a comment"));
        assert!(!r.is_excluded("src/build"));
    }

    #[test]
    fn go_classes_and_literal_braces() {
        let r = rules("file[^0-9].txt\n{a,b}\n");
        assert!(r.is_excluded("filex.txt"));
        assert!(!r.is_excluded("file1.txt"));
        assert!(r.is_excluded("{a,b}"));
        assert!(!r.is_excluded("a"));
    }

    #[test]
    fn star_alone_excludes_everything() {
        let r = rules("*\n!src\n");
        assert!(r.is_excluded("package.json"));
        assert!(r.is_excluded("docs/a.md"));
        assert!(!r.is_excluded("src/main.rs"));
    }

    #[test]
    fn bad_patterns_name_the_line() {
        let err = IgnoreRules::parse("ok\n[abc\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.pattern, "[abc");
    }

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "a\n").unwrap();
        std::fs::write(dir.path().join("Dockerfile.dev.dockerignore"), "b\n").unwrap();
        let df = dir.path().join("Dockerfile.dev");
        let r = IgnoreRules::for_build(dir.path(), Some(&df)).unwrap();
        assert!(r.is_excluded("b") && !r.is_excluded("a"));
        let other = dir.path().join("Dockerfile");
        let r = IgnoreRules::for_build(dir.path(), Some(&other)).unwrap();
        assert!(r.is_excluded("a") && !r.is_excluded("b"));
    }
}
