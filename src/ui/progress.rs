//! Drawing orchestrator events: progress lines on a terminal, plain
//! timestamped lines in logs and pipes, JSON lines for tools.
//!
//! The orchestrator emits [`Event`]s and knows nothing of terminals; these
//! reporters are the only place that decides how a step looks. All three
//! say the same things: only the drawing differs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::orchestrator::events::{Event, ObjectKind, Reporter, WatchEvent};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A live line per service on a terminal, plain lines elsewhere.
    Auto,
    /// A live line per service.
    Tty,
    /// Timestamped lines.
    Plain,
    /// One JSON object per line.
    Json,
    /// Nothing but errors.
    Quiet,
}

/// The reporter for a mode, writing to stderr.
#[must_use]
pub fn reporter(mode: ProgressMode) -> Box<dyn FinishingReporter> {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    match mode {
        ProgressMode::Tty => Box::new(TtyReporter::new()),
        ProgressMode::Auto if tty => Box::new(TtyReporter::new()),
        ProgressMode::Auto | ProgressMode::Plain => Box::new(PlainReporter::new()),
        ProgressMode::Json => Box::new(JsonReporter),
        ProgressMode::Quiet => Box::new(QuietReporter),
    }
}

/// A reporter that may hold a live display to clear at the end.
pub trait FinishingReporter: Reporter {
    /// Leaves the display in its final state.
    fn finish(&self) {}
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Container => "container",
        ObjectKind::Network => "network",
        ObjectKind::Volume => "volume",
        ObjectKind::Image => "image",
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `38 ms` under a second, `2.1 s` above.
fn short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        seconds(d)
    }
}

/// The action lines of `watch`: `synced 3 files in 38 ms`.
fn describe_watch(event: &WatchEvent) -> (Option<&str>, String) {
    match event {
        WatchEvent::Watching { services, watches } => (
            None,
            format!(
                "watching {} ({watches} director{} watched)",
                services.join(", "),
                if *watches == 1 { "y" } else { "ies" }
            ),
        ),
        WatchEvent::BindMounted { service, path } => (
            Some(service),
            format!("{path} is bind-mounted: changes are live without syncing"),
        ),
        WatchEvent::Synced {
            service,
            files,
            elapsed,
        } => (
            Some(service),
            format!(
                "synced {files} file{} in {}",
                if *files == 1 { "" } else { "s" },
                short(*elapsed)
            ),
        ),
        WatchEvent::Restarted { service, because } => (
            Some(service),
            match because {
                Some(dep) => format!("restarted (depends on {dep})"),
                None => "restarted".to_owned(),
            },
        ),
        WatchEvent::Executed {
            service,
            command,
            exit_code,
        } => (
            Some(service),
            match exit_code {
                Some(0) => format!("ran {command}"),
                Some(code) => format!("ran {command}: exit code {code}"),
                None => format!("ran {command}: no exit code"),
            },
        ),
        WatchEvent::Rebuilt {
            service,
            build,
            ready,
        } => (
            Some(service),
            format!(
                "rebuilt in {}, recreated, ready in {}",
                short(*build),
                short(*ready)
            ),
        ),
        WatchEvent::Failed { service, reason } => (service.as_deref(), reason.clone()),
        WatchEvent::Reloaded { file, summary } => (
            None,
            format!("{file} changed: read the project again, {summary}"),
        ),
    }
}

/// One line saying what an event means, and the service it is about.
fn describe(event: &Event) -> (Option<&str>, String) {
    match event {
        Event::Creating { kind, name } => (None, format!("creating {} {name}", kind_name(*kind))),
        Event::Created { kind, name } => (None, format!("created {} {name}", kind_name(*kind))),
        Event::Recreating { service, changes } => (
            Some(service),
            format!("recreating: {} changed", changes.fields.join(", ")),
        ),
        Event::Restarting {
            service,
            container,
            because,
        } => (
            Some(service),
            format!(
                "restarting {container} ({} {} restarted)",
                because.join(", "),
                if because.len() == 1 { "was" } else { "were" }
            ),
        ),
        Event::Starting { service, container } => (Some(service), format!("starting {container}")),
        Event::Started { service, container } => (Some(service), format!("started {container}")),
        Event::Waiting { service, on } => (
            Some(service),
            format!(
                "waiting for {}",
                on.iter()
                    .map(|(dep, cond)| format!("{dep} ({})", cond.trim_start_matches("service_")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Event::Ready { service, elapsed } => {
            (Some(service), format!("ready in {}", seconds(*elapsed)))
        }
        Event::UpToDate { service } => (Some(service), "up to date".to_owned()),
        Event::Exited {
            service,
            container,
            code,
        } => (
            Some(service),
            format!("{container} exited with code {code}"),
        ),
        Event::Failed { service, reason } => (Some(service), format!("failed: {reason}")),
        Event::Skipped { service, because } => (Some(service), format!("not started: {because}")),
        Event::Stopping { kind, name } => (None, format!("stopping {} {name}", kind_name(*kind))),
        Event::Stopped { kind, name } => (None, format!("stopped {} {name}", kind_name(*kind))),
        Event::Removing { kind, name } => (None, format!("removing {} {name}", kind_name(*kind))),
        Event::Removed { kind, name } => (None, format!("removed {} {name}", kind_name(*kind))),
        Event::Note { message } => (None, message.clone()),
        Event::Building {
            service,
            image,
            reason,
        } => (Some(service), format!("building {image}: {reason}")),
        Event::BuildStep { service, step } => (Some(service), format!("building: {step}")),
        Event::BuildOutput { service, line } => (Some(service), line.clone()),
        Event::Built {
            service,
            image,
            elapsed,
        } => (
            Some(service),
            format!("built {image} in {}", seconds(*elapsed)),
        ),
        Event::ImageUpToDate { service, image } => {
            (Some(service), format!("image {image} is up to date"))
        }
        Event::Done { summary } => (None, summary.clone()),
        Event::Watch(w) => describe_watch(w),
        // Events added later read as their debug form until drawn here.
        #[allow(unreachable_patterns)]
        other => (None, format!("{other:?}")),
    }
}

/// Timestamped lines: `[  1.2s] db: ready in 1.1 s`.
#[derive(Debug)]
pub struct PlainReporter {
    start: Instant,
    out: Mutex<std::io::Stderr>,
}

impl PlainReporter {
    /// A reporter whose clock starts now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            out: Mutex::new(std::io::stderr()),
        }
    }
}

impl Default for PlainReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for PlainReporter {
    fn report(&self, event: Event) {
        let (service, text) = describe(&event);
        let at = self.start.elapsed().as_secs_f64();
        let line = match service {
            Some(s) if matches!(event, Event::BuildOutput { .. }) => {
                format!("[{at:6.2}s] {s} | {text}")
            }
            Some(s) => format!("[{at:6.2}s] {s}: {text}"),
            None => format!("[{at:6.2}s] {text}"),
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }
}

impl FinishingReporter for PlainReporter {}

/// One JSON object per line, for tools.
#[derive(Debug, Default)]
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn report(&self, event: Event) {
        let (service, text) = describe(&event);
        let name = format!("{event:?}");
        let kind = name.split([' ', '{', '(']).next().unwrap_or("Event");
        let value = serde_json::json!({
            "event": kind,
            "service": service,
            "message": text,
            "time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default(),
        });
        let _ = writeln!(std::io::stderr().lock(), "{value}");
    }
}

impl FinishingReporter for JsonReporter {}

/// Shows nothing.
#[derive(Debug, Default)]
pub struct QuietReporter;

impl Reporter for QuietReporter {
    fn report(&self, _event: Event) {}
}

impl FinishingReporter for QuietReporter {}

/// A live line per service (indicatif), other events printed above them.
#[derive(Debug)]
pub struct TtyReporter {
    multi: MultiProgress,
    start: Instant,
    lines: Mutex<HashMap<String, ProgressBar>>,
}

impl TtyReporter {
    /// A reporter drawing on stderr.
    #[must_use]
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            start: Instant::now(),
            lines: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, service: &str) -> Option<ProgressBar> {
        let mut lines = self.lines.lock().ok()?;
        Some(
            lines
                .entry(service.to_owned())
                .or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(live_style());
                    bar.set_prefix(service.to_owned());
                    bar.enable_steady_tick(Duration::from_millis(100));
                    bar
                })
                .clone(),
        )
    }
}

/// A service's live line: spinner, name, what it does, time so far.
fn live_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:<16} {msg} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Default for TtyReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for TtyReporter {
    fn report(&self, event: Event) {
        if matches!(event, Event::BuildOutput { .. }) {
            // The live line shows the step; the output is shown on failure.
            return;
        }
        let (service, text) = describe(&event);
        let finished = matches!(
            event,
            Event::Ready { .. }
                | Event::UpToDate { .. }
                | Event::Failed { .. }
                | Event::Skipped { .. }
                | Event::Exited { .. }
                | Event::Built { .. }
                | Event::ImageUpToDate { .. }
        );
        match service.and_then(|s| self.line(s)) {
            Some(bar) if finished => {
                let mark = match event {
                    Event::Failed { .. } | Event::Skipped { .. } => "✘",
                    _ => "✔",
                };
                bar.set_style(
                    ProgressStyle::with_template("{prefix:<18} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(format!("{mark} {}", service.unwrap_or_default()));
                bar.finish_with_message(text);
            }
            Some(bar) => {
                if bar.is_finished() {
                    // A service goes on after its image was built (`up`):
                    // the line is live again.
                    bar.reset();
                    bar.set_style(live_style());
                    bar.set_prefix(service.unwrap_or_default().to_owned());
                    bar.enable_steady_tick(Duration::from_millis(100));
                }
                bar.set_message(text);
            }
            None => {
                let at = self.start.elapsed().as_secs_f64();
                let _ = self.multi.println(format!("[{at:6.2}s] {text}"));
            }
        }
    }
}

impl FinishingReporter for TtyReporter {
    fn finish(&self) {
        if let Ok(lines) = self.lines.lock() {
            for bar in lines.values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_events_in_one_line() {
        let waiting = Event::Waiting {
            service: "api".into(),
            on: vec![
                ("db".into(), "service_healthy".into()),
                ("migrate".into(), "service_completed_successfully".into()),
            ],
        };
        let (service, text) = describe(&waiting);
        assert_eq!(service, Some("api"));
        assert_eq!(
            text,
            "waiting for db (healthy), migrate (completed_successfully)"
        );
        let (_, text) = describe(&Event::Ready {
            service: "db".into(),
            elapsed: Duration::from_millis(2340),
        });
        assert_eq!(text, "ready in 2.3 s");
    }
}
