//! `muster logs`: the output of the project's containers, merged, with
//! `service-1 | ` prefixes; `-f` follows it across restarts and
//! recreation. Attached `up` draws its output with the same [`pump`].

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::SystemTime;

use clap::{Args, ValueEnum};

use super::{ExitStatus, GlobalArgs, connect, report_failure};
use crate::engine::Engine;
use crate::logs::{LogEvent, Logs, LogsOptions, Source, logs, parse_time};
use crate::ui::logs::{LogPrinter, LogStyle};

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)]
pub struct LogsArgs {
    /// Compose files. Here `-f` is `--follow`, as in compose: this takes
    /// the global `--file`'s place (clap then does not add it), without
    /// its short form. The values reach the global options all the same.
    #[arg(long = "file", id = "files", value_name = "FILE", hide = true)]
    _files: Vec<std::path::PathBuf>,
    /// Only these services
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Follow the output, also of containers that start later
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines of each container, or `all`
    #[arg(short = 'n', long, value_name = "N|all", default_value = "all", value_parser = parse_tail)]
    tail: Tail,
    /// Only output since then: an RFC 3339 time (2024-05-01T12:00:00Z) or a
    /// duration back from now (10m, 1h30m)
    #[arg(long, value_name = "TIME", value_parser = parse_time_now)]
    since: Option<SystemTime>,
    /// Only output before then (same forms as --since)
    #[arg(long, value_name = "TIME", value_parser = parse_time_now)]
    until: Option<SystemTime>,
    /// Show the engine's timestamp before each line
    #[arg(short, long)]
    timestamps: bool,
    /// Do not write the `service-1 | ` prefix
    #[arg(long)]
    no_log_prefix: bool,
    /// No colours (also when NO_COLOR is set or output is not a terminal)
    #[arg(long)]
    no_color: bool,
    /// Only the replica with this number
    #[arg(long, value_name = "N")]
    index: Option<u32>,
    /// Output format: `text`, or `json` (one object per line)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `--tail`: a number of lines, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail(Option<u64>);

fn parse_tail(text: &str) -> Result<Tail, String> {
    if text.eq_ignore_ascii_case("all") {
        return Ok(Tail(None));
    }
    // compose takes a negative number for all.
    if text.starts_with('-') && text[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Tail(None));
    }
    text.parse()
        .map(|n| Tail(Some(n)))
        .map_err(|_| format!("expected a number of lines or `all`, not {text:?}"))
}

fn parse_time_now(text: &str) -> Result<SystemTime, String> {
    parse_time(text, SystemTime::now()).map_err(|e| e.to_string())
}

/// Runs `muster logs`.
pub fn run(global: &GlobalArgs, args: &LogsArgs) -> ExitStatus {
    let (name, loaded) = match super::down::project(global) {
        Ok(found) => found,
        Err(status) => return status,
    };
    if let Some(loaded) = &loaded
        && let Some(unknown) = args
            .services
            .iter()
            .find(|s| !loaded.project.services.contains_key(s.as_str()))
    {
        let names: Vec<&str> = loaded.project.services.keys().map(String::as_str).collect();
        let hint = crate::model::load::suggest(unknown, &names)
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "error: no such service: {unknown:?}{hint}"
        );
        return ExitStatus::Failure;
    }
    let json = args.format == Format::Json;
    let style = LogStyle {
        prefix: !args.no_log_prefix,
        color: !(args.no_color || json) && LogStyle::color_for_stdout(),
        timestamps: args.timestamps,
        json,
    };
    let options = LogsOptions {
        services: args.services.clone(),
        index: args.index,
        follow: args.follow,
        tail: args.tail.0,
        since: args.since,
        until: args.until,
        timestamps: args.timestamps || json,
    };
    // One thread: the readers and the printer hand lines over without
    // waking each other across threads (half the CPU on a million lines).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report_failure(&e),
    };
    rt.block_on(async {
        let engine: Arc<dyn Engine> = Arc::new(connect().await?);
        let mut logs = logs(engine, &name, options);
        let mut printer = stdout_printer(style);
        Ok(match pump(&mut logs, &mut printer, false).await {
            // Ctrl-C is how one stops following: not a failure.
            Ended::Done | Ended::Interrupted | Ended::Exited(_) => ExitStatus::Success,
            Ended::Failed => ExitStatus::Failure,
        })
    })
    .unwrap_or_else(|status| status)
}

/// A printer on stdout, buffered (flushed whenever no event is waiting).
pub(super) fn stdout_printer(
    style: LogStyle,
) -> LogPrinter<BufWriter<std::io::StdoutLock<'static>>> {
    LogPrinter::new(
        BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
        style,
    )
}

/// How [`pump`] ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// Everything was shown (following: every container stopped for good),
    /// or stdout was closed (`| head`).
    Done,
    /// Ctrl-C.
    Interrupted,
    /// A container exited and `stop_on_exit` was asked for.
    Exited(Arc<Source>),
    /// Output could not be written, or a container's logs could not be read
    /// (said on stderr).
    Failed,
}

/// Draws `logs` until they end, Ctrl-C, or (with `stop_on_exit`) the
/// first exit. Errors reading one container are said on stderr and the
/// others go on; a closed stdout ends it quietly.
pub(super) async fn pump<W: Write>(
    logs: &mut Logs,
    printer: &mut LogPrinter<W>,
    stop_on_exit: bool,
) -> Ended {
    let mut failed = false;
    // One listener for the whole run, so a Ctrl-C between two events counts.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let first = tokio::select! {
            event = logs.next() => event,
            _ = &mut ctrl_c => {
                let _ = printer.flush();
                return Ended::Interrupted;
            }
        };
        let Some(first) = first else { break };
        let mut next = Some(first);
        // Write out everything that is ready, then flush once.
        let mut budget = 4096;
        while let Some(event) = next.take() {
            match event {
                Ok(event) => {
                    if let Err(e) = printer.print(&event) {
                        return write_failed(&e);
                    }
                    if stop_on_exit && let LogEvent::Exited { source, .. } = event {
                        let _ = printer.flush();
                        return Ended::Exited(source);
                    }
                }
                Err(e) => {
                    let _ = printer.flush();
                    let _ = writeln!(std::io::stderr(), "error: {e}");
                    failed = true;
                }
            }
            budget -= 1;
            if budget > 0 {
                next = logs.try_next();
            }
        }
        if let Err(e) = printer.flush() {
            return write_failed(&e);
        }
    }
    if let Err(e) = printer.flush() {
        return write_failed(&e);
    }
    if failed { Ended::Failed } else { Ended::Done }
}

/// A closed pipe is the reader having read enough; anything else is said.
fn write_failed(error: &std::io::Error) -> Ended {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Ended::Done
    } else {
        report_failure(error);
        Ended::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_takes_numbers_and_all() {
        assert_eq!(parse_tail("all"), Ok(Tail(None)));
        assert_eq!(parse_tail("-1"), Ok(Tail(None)));
        assert_eq!(parse_tail("25"), Ok(Tail(Some(25))));
        assert!(parse_tail("ten").unwrap_err().contains("`all`"));
    }
}
