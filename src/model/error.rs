//! Errors found while loading a project, with where they were found.
//!
//! A [`LoadError`] carries the message, the [`Location`] (file, line,
//! column and the text around it, for drawing), and a help line that says
//! how to fix the problem. It implements [`miette::Diagnostic`], so the CLI
//! can draw the offending line; its `Display` is the one-line form
//! `file:line:col: message`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::source::{Sources, Span};

/// What went wrong, broadly; the message says exactly what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be found or read.
    Io,
    /// The YAML itself is malformed.
    Syntax,
    /// A mapping has the same key twice.
    DuplicateKey,
    /// A key that the Compose Specification does not define.
    UnknownKey,
    /// A value of the wrong type or form.
    InvalidValue,
    /// A `${VAR:?msg}` variable is missing, or a template is malformed.
    Interpolation,
    /// A reference to something that does not exist (service, file, ...).
    Reference,
    /// A cycle: `depends_on`, `extends` or `include`.
    Cycle,
    /// Options that contradict each other (CLI or project level).
    Invalid,
}

/// Where in which file an error was found.
#[derive(Debug, Clone)]
pub struct Location {
    /// The file's path.
    pub path: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// Byte offset and length of the offending text.
    pub offset: usize,
    /// Length in bytes of the offending text.
    pub len: usize,
    /// The file's whole text with its name, for drawing.
    pub source: Arc<miette::NamedSource<Arc<str>>>,
}

impl Location {
    /// The location of `span` in `sources`.
    #[must_use]
    pub fn of(sources: &Sources, span: Span) -> Self {
        let file = sources.get(span.file);
        let path = super::source::display_path(&file.path);
        Self {
            line: span.line,
            col: span.col,
            offset: span.offset,
            len: span.len,
            source: Arc::new(miette::NamedSource::new(
                path.display().to_string(),
                file.text.clone(),
            )),
            path,
        }
    }

    /// A location that names a file but no position in it.
    #[must_use]
    pub fn file(path: &Path) -> Self {
        let path = super::source::display_path(path);
        Self {
            line: 0,
            col: 0,
            offset: 0,
            len: 0,
            source: Arc::new(miette::NamedSource::new(
                path.display().to_string(),
                Arc::from(""),
            )),
            path,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.path.display())
        } else {
            write!(f, "{}:{}:{}", self.path.display(), self.line, self.col)
        }
    }
}

/// An error found while loading, validating or planning a project.
#[derive(Debug, Clone)]
pub struct LoadError {
    /// What kind of problem.
    pub kind: ErrorKind,
    /// What is wrong, in one sentence, naming the service and key.
    pub message: String,
    /// Where it was found, when it is in a file.
    pub location: Option<Location>,
    /// How to fix it.
    pub help: Option<String>,
    /// A second place that matters (the first of two duplicate keys, ...).
    pub related: Option<(Location, String)>,
}

impl LoadError {
    /// An error with a message and nothing else.
    #[must_use]
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            location: None,
            help: None,
            related: None,
        }
    }

    /// Sets where the error was found.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Sets where the error was found, from a span.
    #[must_use]
    pub fn at_span(self, sources: &Sources, span: Span) -> Self {
        self.at(Location::of(sources, span))
    }

    /// Sets the help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a second place that matters, with a label.
    #[must_use]
    pub fn related(mut self, location: Location, label: impl Into<String>) -> Self {
        self.related = Some((location, label.into()));
        self
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

impl miette::Diagnostic for LoadError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        let loc = self.location.as_ref()?;
        (loc.line > 0).then_some(&*loc.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let loc = self.location.as_ref().filter(|l| l.line > 0)?;
        let mut labels = vec![miette::LabeledSpan::new_primary_with_span(
            Some("here".to_owned()),
            (loc.offset, loc.len),
        )];
        if let Some((rel, label)) = &self.related
            && rel.path == loc.path
            && rel.line > 0
        {
            labels.push(miette::LabeledSpan::new_with_span(
                Some(label.clone()),
                (rel.offset, rel.len),
            ));
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// Several errors at once (validation reports all it finds).
#[derive(Debug, Clone)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

impl From<LoadError> for LoadErrors {
    fn from(e: LoadError) -> Self {
        Self(vec![e])
    }
}
