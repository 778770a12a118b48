//! The harness the `config` tests share: a project in a temp dir, the real
//! `muster` binary run in it as a user would, and its output read back.
//!
//! Every run gets a controlled environment (only `PATH`, `HOME` set to the
//! temp dir and `NO_COLOR=1`, plus what the test sets), so nothing from the
//! developer's shell (`COMPOSE_FILE`, `COMPOSE_PROJECT_NAME`, ...) leaks in,
//! and errors are drawn without colour. Paths under the temp dir read
//! `[DIR]` in what the tests compare, so snapshots are the same everywhere.

#![allow(dead_code, reason = "each test binary uses a part of the harness")]

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The directory holding the fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A project in a fresh temp dir, and the command to run in it.
pub struct Test {
    // Kept for its `Drop`: the directory goes when the test ends.
    tempdir: tempfile::TempDir,
    /// The temp dir, canonical (what the binary sees as its path).
    base: PathBuf,
    /// The project directory, `base/<name>`: its name is the project name
    /// when nothing else gives one, so it is fixed, not random.
    root: PathBuf,
    /// Where the binary runs, relative to `root`.
    cwd: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Test {
    /// An empty project directory named `project`.
    pub fn new() -> Self {
        Self::named("project")
    }

    /// An empty project directory with this name.
    pub fn named(name: &str) -> Self {
        let tempdir = tempfile::Builder::new()
            .prefix("muster-test-")
            .tempdir()
            .expect("create a temp dir");
        let base = tempdir
            .path()
            .canonicalize()
            .expect("canonical temp dir path");
        let root = base.join(name);
        std::fs::create_dir_all(&root).expect("create the project dir");
        Self {
            tempdir,
            base,
            root,
            cwd: PathBuf::new(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Runs in an existing directory, left as it is (the corpus is
    /// read-only); only `HOME` is a fresh temp dir.
    pub fn at(dir: &Path) -> Self {
        let mut test = Self::named("home");
        test.root = dir.to_path_buf();
        test
    }

    /// A copy of `tests/fixtures/<path>`: a directory becomes the project
    /// directory (named like it); a file is copied into an empty project
    /// directory named `project`.
    pub fn fixture(path: &str) -> Self {
        let source = fixtures().join(path);
        assert!(source.exists(), "no fixture {}", source.display());
        if source.is_dir() {
            let name = source.file_name().and_then(|n| n.to_str()).expect("name");
            let test = Self::named(name);
            copy_dir(&source, &test.root);
            test
        } else {
            let test = Self::new();
            let name = source.file_name().expect("file name");
            std::fs::copy(&source, test.root.join(name)).expect("copy the fixture");
            test
        }
    }

    /// Writes a file in the project directory (parents created).
    #[must_use]
    pub fn write(self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        std::fs::write(&path, contents).expect("write a file");
        self
    }

    /// Adds one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the run.
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs in this subdirectory of the project (created).
    #[must_use]
    pub fn current_dir(mut self, dir: &str) -> Self {
        std::fs::create_dir_all(self.root.join(dir)).expect("create the dir");
        self.cwd = PathBuf::from(dir);
        self
    }

    /// The project directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The command, ready to run, with the controlled environment.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_muster"));
        command
            .current_dir(self.root.join(&self.cwd))
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.base)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs the binary and collects what it printed.
    pub fn run(&self) -> Output {
        let output = self.command().output().expect("run muster");
        Output {
            status: output.status,
            stdout: self.filter(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.filter(&String::from_utf8_lossy(&output.stderr)),
            raw_stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            base: self.base.display().to_string(),
        }
    }

    fn filter(&self, text: &str) -> String {
        text.replace(&self.base.display().to_string(), "[DIR]")
    }
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

/// Copies the tree `from` into `to` (a fixture, an example).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// What a run printed, with the temp dir written `[DIR]`.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// stderr as printed (the temp dir not replaced), to undo line wraps.
    raw_stderr: String,
    base: String,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit status: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

impl Output {
    /// Asserts the run succeeded (exit 0).
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.status.code(), Some(0), "expected success:\n{self:?}");
        self
    }

    /// Asserts the run failed as for an invalid project (exit 1), printing
    /// nothing on stdout and no panic.
    #[track_caller]
    pub fn failure(self) -> Self {
        assert_eq!(self.status.code(), Some(1), "expected exit 1:\n{self:?}");
        assert_eq!(self.stdout, "", "nothing on stdout when it fails");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self
    }

    /// stdout, then stderr when there is any: what a snapshot records.
    pub fn snapshot(&self) -> String {
        if self.stderr.is_empty() {
            self.stdout.clone()
        } else {
            format!("{}--- stderr ---\n{}", self.stdout, self.stderr)
        }
    }

    /// The first error's message, its line breaks undone as well as they
    /// can be without knowing the text (for `contains` checks).
    pub fn error_message(&self) -> String {
        let Some(drawn) = Drawn::parse(&self.raw_stderr) else {
            return String::new();
        };
        let mut message = String::new();
        for piece in &drawn.message.0 {
            if !(message.is_empty() || message.ends_with('/') || message.ends_with('-')) {
                message.push(' ');
            }
            message.push_str(piece);
        }
        message.replace(&self.base, "[DIR]")
    }

    /// Asserts the first error: its message, location and help line.
    #[track_caller]
    pub fn assert_error(&self, expected: &Expected) {
        let drawn = Drawn::parse(&self.raw_stderr)
            .unwrap_or_else(|| panic!("no `error:` line in stderr:\n{self:?}"));
        let actual = Diagnostic {
            message: drawn
                .message
                .unwrap(&expected.message.replace("[DIR]", &self.base)),
            at: drawn.at,
            help: drawn
                .help
                .map(|h| h.unwrap(&expected.help.unwrap_or("").replace("[DIR]", &self.base))),
        }
        .filtered(&self.base);
        let expected = Diagnostic {
            message: expected.message.to_owned(),
            at: expected.at.map(str::to_owned),
            help: expected.help.map(str::to_owned),
        };
        pretty_assertions::assert_eq!(actual, expected, "stderr was:\n{}", self.stderr);
    }
}

/// The first error a test expects: the message (the `error:` line, without
/// `error: `), where it points (`file:line:col`, as the box heading draws it;
/// `None` when the error has no place in a file), and the help line.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub message: &'a str,
    pub at: Option<&'a str>,
    pub help: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq)]
struct Diagnostic {
    message: String,
    at: Option<String>,
    help: Option<String>,
}

impl Diagnostic {
    fn filtered(self, base: &str) -> Self {
        Self {
            message: self.message.replace(base, "[DIR]"),
            at: self.at.map(|a| a.replace(base, "[DIR]")),
            help: self.help.map(|h| h.replace(base, "[DIR]")),
        }
    }
}

/// An error as miette draws it without colour:
///
/// ```text
/// error: the message, wrapped at 100 columns
///   │ with continuation lines
///    ╭─[compose.yaml:4:5]
///  4 │     depnds_on: [b]
///    ╰────
///   help: did you mean `depends_on`?
/// ```
struct Drawn {
    message: Wrapped,
    at: Option<String>,
    help: Option<Wrapped>,
}

impl Drawn {
    fn parse(stderr: &str) -> Option<Self> {
        let mut lines = stderr.lines().skip_while(|l| !l.starts_with("error: "));
        let first = lines.next()?.strip_prefix("error: ")?;
        let mut message = Wrapped(vec![first.to_owned()]);
        let mut at = None;
        let mut help: Option<Wrapped> = None;
        let mut in_help = false;
        for line in lines {
            if line.starts_with("error: ") {
                break;
            }
            if let Some(rest) = line.strip_prefix("  │ ") {
                message.0.push(rest.to_owned());
            } else if let Some(pos) = line.find("╭─[") {
                let rest = &line[pos + "╭─[".len()..];
                at = Some(rest.trim_end().trim_end_matches(']').to_owned());
            } else if let Some(rest) = line.strip_prefix("  help: ") {
                help = Some(Wrapped(vec![rest.to_owned()]));
                in_help = true;
                continue;
            } else if in_help && line.starts_with("        ") {
                if let Some(h) = &mut help {
                    h.0.push(line.trim().to_owned());
                }
                continue;
            }
            in_help = false;
        }
        Some(Self { message, at, help })
    }
}

/// A text miette wrapped at 100 columns: the pieces, without the breaks.
///
/// A break may have eaten a space (`a b` -> `a` / `b`) or not (after `-`,
/// `/`, `]`), so the pieces are joined the way that gives `expected` when
/// one does, and with spaces otherwise (a failing comparison then shows it).
struct Wrapped(Vec<String>);

impl Wrapped {
    fn unwrap(&self, expected: &str) -> String {
        let gaps = self.0.len().saturating_sub(1);
        if gaps < 12 {
            for mask in 0..(1u32 << gaps) {
                let mut joined = self.0[0].clone();
                for (i, piece) in self.0[1..].iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        joined.push(' ');
                    }
                    joined.push_str(piece);
                }
                if joined == expected {
                    return joined;
                }
            }
        }
        self.0.join(" ")
    }
}
