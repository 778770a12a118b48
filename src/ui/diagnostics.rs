//! Drawing load errors and warnings on a terminal or in a log.
//!
//! Errors are drawn by miette: the message, the file with line and column,
//! the offending line with a marker, and the help line. On a terminal with
//! colours allowed (`NO_COLOR` unset) it uses colour and Unicode; elsewhere
//! plain ASCII, so logs and tests read the same everywhere.

use std::fmt;
use std::io::IsTerminal;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};

use crate::model::LoadError;

/// Whether stderr gets colour and Unicode.
fn fancy() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// A [`LoadError`] whose one-line `Display` leaves the location to miette.
struct Drawn<'a>(&'a LoadError);

impl fmt::Debug for Drawn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Drawn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.location {
            // Without a line to draw, the file still belongs in the message.
            Some(loc) if loc.line == 0 => write!(f, "{}: {}", loc, self.0.message),
            _ => f.write_str(&self.0.message),
        }
    }
}

impl std::error::Error for Drawn<'_> {}

impl Diagnostic for Drawn<'_> {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0.help()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.0.labels()
    }
}

/// The error drawn for a person, ending with a newline.
#[must_use]
pub fn render(error: &LoadError) -> String {
    let theme = if fancy() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_width(100);
    let mut out = String::from("error: ");
    let mut drawn = String::new();
    if handler.render_report(&mut drawn, &Drawn(error)).is_err() {
        drawn = error.to_string();
    }
    // miette opens with its own marker; "error:" reads better in logs.
    let drawn = drawn.trim_start();
    let drawn = drawn
        .strip_prefix("×")
        .or_else(|| drawn.strip_prefix("x"))
        .unwrap_or(drawn)
        .trim_start();
    out.push_str(drawn);
    if let Some((related, label)) = &error.related
        && error
            .location
            .as_ref()
            .is_none_or(|loc| loc.path != related.path)
    {
        out.push_str(&format!("  note: {label}: {related}\n"));
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A warning line.
#[must_use]
pub fn warning(message: &str) -> String {
    format!("warning: {message}")
}
