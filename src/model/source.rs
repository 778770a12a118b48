//! Source files and positions inside them.
//!
//! Every value muster reads from a compose file remembers where it came
//! from, so that an error can name the file, line and column (and draw the
//! span) long after files have been merged, extended and included. Files are
//! registered once in [`Sources`] and referred to by a small [`FileId`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A position in a source file: where a value starts, and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// Byte offset of the start of the value in the file's text.
    pub offset: usize,
    /// Length in bytes (0 when unknown).
    pub len: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

/// One file that was read while loading a project.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user would recognise it (as given, or found).
    pub path: PathBuf,
    /// The whole text of the file.
    pub text: Arc<str>,
}

/// All files read while loading a project, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Registers a file and returns its id.
    pub fn add(&mut self, path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile {
            path: path.into(),
            text: text.into(),
        });
        id
    }

    /// The file with this id.
    ///
    /// # Panics
    /// Never for an id returned by [`Sources::add`] on this value.
    #[must_use]
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The path of the file with this id, as the user would write it:
    /// relative to the current directory when it lies below it.
    #[must_use]
    pub fn display_path(&self, id: FileId) -> PathBuf {
        display_path(self.path(id))
    }

    /// The path of the file with this id.
    #[must_use]
    pub fn path(&self, id: FileId) -> &Path {
        &self.get(id).path
    }

    /// The span of a whole 1-based line of a file.
    #[must_use]
    pub fn line_span(&self, id: FileId, line: usize) -> Span {
        let text = &self.get(id).text;
        let offset: usize = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let offset = offset.min(text.len());
        let len = text[offset..].split('\n').next().map_or(0, str::len);
        Span {
            file: id,
            offset,
            len,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: 1,
        }
    }

    /// Every registered file, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(u32::try_from(i).unwrap_or(u32::MAX)), f))
    }
}

/// `path` relative to the current directory when it lies below it, else as
/// it is: what a person would type to open the file.
#[must_use]
pub fn display_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
}
