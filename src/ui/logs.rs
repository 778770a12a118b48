//! Drawing log events: `service-1 | line` with prefixes padded to one
//! column and one colour per service on a terminal, or JSON lines.

use std::io::{self, Write};
use std::time::SystemTime;

use crate::engine::LogStream;
use crate::logs::{LogEvent, LogLine, Source};

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(clippy::struct_excessive_bools)]
pub struct LogStyle {
    /// `service-1 | ` before each line.
    pub prefix: bool,
    /// ANSI colours (one per service) on the prefixes.
    pub color: bool,
    /// The engine's timestamp before each line.
    pub timestamps: bool,
    /// One JSON object per line instead of text.
    pub json: bool,
}

impl LogStyle {
    /// Whether colours suit `stdout`: a terminal, and `NO_COLOR` unset or
    /// empty.
    #[must_use]
    pub fn color_for_stdout() -> bool {
        use std::io::IsTerminal;
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
    }
}

/// ANSI colours for prefixes, as compose picks them.
const PALETTE: [&str; 10] = [
    "\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[93m", "\x1b[92m",
    "\x1b[95m", "\x1b[94m",
];
const RESET: &str = "\x1b[0m";

/// The colour of a service: chosen by its name, so it is the same in every
/// run and in `up` and `logs` alike.
#[must_use]
pub fn color_of(service: &str) -> &'static str {
    // FNV-1a: stable across runs and platforms (std's hasher is not).
    let mut hash: u32 = 0x811c_9dc5;
    for b in service.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    PALETTE[hash as usize % PALETTE.len()]
}

/// Writes log events to `out`.
#[derive(Debug)]
pub struct LogPrinter<W: Write> {
    out: W,
    style: LogStyle,
    /// The widest prefix seen, so the bars line up.
    width: usize,
}

impl<W: Write> LogPrinter<W> {
    /// A printer drawing in `style`.
    pub fn new(out: W, style: LogStyle) -> Self {
        Self {
            out,
            style,
            width: 0,
        }
    }

    /// Draws one event.
    ///
    /// # Errors
    /// When `out` cannot be written (a closed pipe is
    /// [`io::ErrorKind::BrokenPipe`]).
    pub fn print(&mut self, event: &LogEvent) -> io::Result<()> {
        match event {
            LogEvent::Attached(source) => {
                self.width = self.width.max(source.prefix().len());
                Ok(())
            }
            LogEvent::Line(line) if self.style.json => self.json_line(line),
            LogEvent::Line(line) => self.text_line(line),
            LogEvent::Exited { source, exit_code } if self.style.json => {
                let value = serde_json::json!({
                    "service": source.service,
                    "container": source.container,
                    "event": "exited",
                    "exit_code": exit_code,
                });
                writeln!(self.out, "{value}")
            }
            LogEvent::Exited { source, exit_code } => {
                let (color, reset) = self.colors(source);
                writeln!(
                    self.out,
                    "{color}{} exited with code {exit_code}{reset}",
                    source.prefix()
                )
            }
        }
    }

    /// Writes out what is buffered.
    ///
    /// # Errors
    /// As [`print`](Self::print).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The writer, back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn colors(&self, source: &Source) -> (&'static str, &'static str) {
        if self.style.color {
            (color_of(&source.service), RESET)
        } else {
            ("", "")
        }
    }

    fn text_line(&mut self, line: &LogLine) -> io::Result<()> {
        if self.style.prefix {
            let (color, reset) = self.colors(&line.source);
            let prefix = line.source.prefix();
            let width = self.width.max(prefix.len());
            self.width = width;
            write!(self.out, "{color}{prefix:<width$} |{reset} ")?;
        }
        if self.style.timestamps
            && let Some(time) = line.timestamp
        {
            write!(self.out, "{} ", rfc3339(time))?;
        }
        self.out.write_all(line.text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn json_line(&mut self, line: &LogLine) -> io::Result<()> {
        let value = serde_json::json!({
            "service": line.source.service,
            "container": line.source.container,
            "stream": match line.stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
            },
            "timestamp": line.timestamp.map(rfc3339),
            "message": line.text,
        });
        writeln!(self.out, "{value}")
    }
}

/// `2024-05-01T12:00:00.123456789Z`, as the engine writes it.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_nanos(time).to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn source(service: &str, number: u32) -> Arc<Source> {
        Arc::new(Source {
            service: service.into(),
            number,
            container: format!("shop-{service}-{number}"),
            id: format!("id-{service}-{number}"),
        })
    }

    fn line(source: &Arc<Source>, text: &str) -> LogEvent {
        LogEvent::Line(LogLine {
            source: source.clone(),
            stream: LogStream::Stderr,
            timestamp: Some(UNIX_EPOCH + Duration::from_secs(1_714_564_800)),
            text: text.into(),
        })
    }

    fn draw(style: LogStyle, events: &[LogEvent]) -> String {
        let mut printer = LogPrinter::new(Vec::new(), style);
        for event in events {
            printer.print(event).unwrap();
        }
        String::from_utf8(printer.into_inner()).unwrap()
    }

    #[test]
    fn prefixes_are_padded_to_the_widest_attached() {
        let (api, worker) = (source("api", 1), source("worker", 12));
        let style = LogStyle {
            prefix: true,
            ..LogStyle::default()
        };
        let out = draw(
            style,
            &[
                LogEvent::Attached(api.clone()),
                LogEvent::Attached(worker.clone()),
                line(&api, "up"),
                line(&worker, "working"),
                LogEvent::Exited {
                    source: api,
                    exit_code: 137,
                },
            ],
        );
        assert_eq!(
            out,
            "api-1     | up\nworker-12 | working\napi-1 exited with code 137\n"
        );
    }

    #[test]
    fn a_wider_prefix_that_comes_later_widens_the_column() {
        let (a, long) = (source("a", 1), source("longer", 1));
        let style = LogStyle {
            prefix: true,
            ..LogStyle::default()
        };
        let out = draw(
            style,
            &[
                LogEvent::Attached(a.clone()),
                line(&a, "1"),
                LogEvent::Attached(long.clone()),
                line(&long, "2"),
                line(&a, "3"),
            ],
        );
        assert_eq!(out, "a-1 | 1\nlonger-1 | 2\na-1      | 3\n");
    }

    #[test]
    fn without_prefix_with_timestamps() {
        let api = source("api", 1);
        let style = LogStyle {
            timestamps: true,
            ..LogStyle::default()
        };
        assert_eq!(
            draw(style, &[line(&api, "hi")]),
            "2024-05-01T12:00:00.000000000Z hi\n"
        );
    }

    #[test]
    fn colours_are_per_service_and_stable() {
        let api = source("api", 1);
        let style = LogStyle {
            prefix: true,
            color: true,
            ..LogStyle::default()
        };
        let out = draw(style, &[line(&api, "hi")]);
        assert_eq!(out, format!("{}api-1 |{RESET} hi\n", color_of("api")));
        assert_eq!(color_of("api"), color_of("api"));
        let colours: std::collections::BTreeSet<_> =
            ["api", "db", "web", "worker", "cache"].map(color_of).into();
        assert!(colours.len() > 1, "services get different colours");
    }

    #[test]
    fn json_has_one_object_per_line() {
        let api = source("api", 2);
        let out = draw(
            LogStyle {
                json: true,
                prefix: true,
                ..LogStyle::default()
            },
            &[
                line(&api, "caf\u{fffd} \"quoted\""),
                LogEvent::Exited {
                    source: api,
                    exit_code: 1,
                },
            ],
        );
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({
                "service": "api",
                "container": "shop-api-2",
                "stream": "stderr",
                "timestamp": "2024-05-01T12:00:00.000000000Z",
                "message": "caf\u{fffd} \"quoted\"",
            })
        );
        assert_eq!(lines[1]["exit_code"], 1);
    }
}
