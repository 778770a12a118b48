//! Cutting a container's output into lines.
//!
//! The engine hands output over in chunks: one frame per write of the
//! process on a multiplexed stream (no TTY), and, for a container with a
//! TTY (raw stream), pieces cut at newlines by bollard. A chunk may hold
//! several lines or part of one; a line may span chunks (the engine's log
//! driver also cuts lines longer than 16 KiB into pieces). [`Splitter`]
//! keeps one pending line per stream (stdout, stderr) and yields whole
//! lines, as bytes, with the engine's timestamp of their first piece.
//!
//! With timestamps asked for, every message the engine sends begins with
//! `2024-05-01T12:00:00.123456789Z `; it is parsed and taken off, also at
//! the start of the continuation pieces of a long line (a frame each on a
//! multiplexed stream; every 16 KiB within the line on a raw one), so the
//! line reads as it was written. A line longer than [`MAX_LINE`] is cut there, so a
//! process that never writes a newline cannot make muster grow without end.

use std::time::SystemTime;

use memchr::memchr;

use crate::engine::LogStream;

/// The longest line kept whole (bytes); longer ones are cut into pieces of
/// this size.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// The size of the pieces the engine's log driver cuts long lines into;
/// each piece gets its own timestamp.
const PIECE: usize = 16 * 1024;

/// The longest prefix the engine puts before a message when asked for
/// timestamps (`2024-05-01T12:00:00.123456789+00:00 ` and a little slack).
const MAX_TIMESTAMP: usize = 40;

/// Cuts chunks of output into lines; see the module documentation.
#[derive(Debug)]
pub struct Splitter {
    timestamps: bool,
    max_line: usize,
    pending: [Pending; 2],
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    timestamp: Option<SystemTime>,
    /// Whether a piece of a line is waiting (also an empty one after a
    /// timestamp).
    open: bool,
    /// Bytes of the line since its last timestamp.
    piece: usize,
}

impl Splitter {
    /// A splitter for output read with (`timestamps`) or without the
    /// engine's timestamps.
    #[must_use]
    pub fn new(timestamps: bool) -> Self {
        Self::with_max_line(timestamps, MAX_LINE)
    }

    /// The same, cutting lines at `max_line` bytes (at least 1).
    #[must_use]
    pub fn with_max_line(timestamps: bool, max_line: usize) -> Self {
        Self {
            timestamps,
            max_line: max_line.max(1),
            pending: [Pending::default(), Pending::default()],
        }
    }

    /// Takes one chunk and calls `line` for every line it completes, with
    /// the line's bytes (without the newline).
    pub fn push(
        &mut self,
        stream: LogStream,
        mut data: &[u8],
        line: &mut impl FnMut(LogStream, Option<SystemTime>, &[u8]),
    ) {
        let max_line = self.max_line;
        let timestamps = self.timestamps;
        let pending = &mut self.pending[index(stream)];
        let mut message_start = true;
        while !data.is_empty() {
            if timestamps && message_start {
                if let Some((time, rest)) = split_timestamp(data) {
                    if !pending.open {
                        pending.timestamp = Some(time);
                    }
                    data = rest;
                }
                pending.open = true;
                pending.piece = 0;
            }
            message_start = false;
            // Not past the end of the engine's piece: a raw stream goes on
            // with the next piece's timestamp there.
            let piece_left = if timestamps {
                PIECE.saturating_sub(pending.piece).max(1)
            } else {
                usize::MAX
            };
            let window = &data[..data.len().min(piece_left)];
            let room = max_line.saturating_sub(pending.bytes.len()).max(1);
            let taken = match memchr(b'\n', window) {
                Some(end) if end <= room => {
                    if pending.bytes.is_empty() {
                        line(stream, pending.timestamp, &data[..end]);
                    } else {
                        pending.bytes.extend_from_slice(&data[..end]);
                        line(stream, pending.timestamp, &pending.bytes);
                        pending.bytes.clear();
                    }
                    pending.open = false;
                    data = &data[end + 1..];
                    // The next line in the same chunk (a raw stream, or the
                    // fake engine) carries its own timestamp.
                    message_start = true;
                    continue;
                }
                _ if window.len() >= room => {
                    pending.bytes.extend_from_slice(&data[..room]);
                    line(stream, pending.timestamp, &pending.bytes);
                    pending.bytes.clear();
                    room
                }
                _ => {
                    pending.bytes.extend_from_slice(window);
                    pending.open = true;
                    window.len()
                }
            };
            data = &data[taken..];
            pending.piece += taken;
            if timestamps && pending.piece >= PIECE {
                message_start = true;
            }
        }
    }

    /// Yields what is left (a last line without a newline), stdout first.
    pub fn finish(&mut self, line: &mut impl FnMut(LogStream, Option<SystemTime>, &[u8])) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let pending = &mut self.pending[index(stream)];
            if !pending.bytes.is_empty() {
                line(stream, pending.timestamp, &pending.bytes);
            }
            *pending = Pending::default();
        }
    }
}

fn index(stream: LogStream) -> usize {
    match stream {
        LogStream::Stdout => 0,
        LogStream::Stderr => 1,
    }
}

/// The engine's timestamp at the start of `data`, and the rest after its
/// space; `None` when `data` does not start with one.
fn split_timestamp(data: &[u8]) -> Option<(SystemTime, &[u8])> {
    let head = &data[..data.len().min(MAX_TIMESTAMP)];
    let space = memchr(b' ', head)?;
    let text = std::str::from_utf8(&data[..space]).ok()?;
    let time = super::time::parse_engine_timestamp(text)?;
    Some((time, &data[space + 1..]))
}

/// A line's bytes as text: lossy UTF-8, a trailing `\r` dropped, and of a
/// line that returns the cursor (`10%\r20%\r30%`) only what a terminal
/// would show at the end (the last non-empty piece).
#[must_use]
pub fn text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let shown = if memchr(b'\r', bytes).is_some() {
        bytes
            .split(|b| *b == b'\r')
            .rfind(|piece| !piece.is_empty())
            .unwrap_or_default()
    } else {
        bytes
    };
    String::from_utf8_lossy(shown).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    type Lines = Vec<(LogStream, Option<SystemTime>, String)>;

    fn split(splitter: &mut Splitter, chunks: &[(LogStream, &[u8])]) -> Lines {
        let mut out = Vec::new();
        let mut push = |stream, time, bytes: &[u8]| {
            out.push((stream, time, String::from_utf8_lossy(bytes).into_owned()));
        };
        for (stream, data) in chunks {
            splitter.push(*stream, data, &mut push);
        }
        splitter.finish(&mut push);
        out
    }

    fn texts(lines: &Lines) -> Vec<&str> {
        lines.iter().map(|l| l.2.as_str()).collect()
    }

    use LogStream::{Stderr, Stdout};

    #[test]
    fn lines_are_cut_at_newlines_across_chunks() {
        let mut s = Splitter::new(false);
        let lines = split(
            &mut s,
            &[
                (Stdout, b"one\ntw"),
                (Stdout, b"o\nthree\n"),
                (Stdout, b"four"),
            ],
        );
        assert_eq!(texts(&lines), ["one", "two", "three", "four"]);
    }

    #[test]
    fn stdout_and_stderr_keep_their_own_pending_lines() {
        let mut s = Splitter::new(false);
        let lines = split(
            &mut s,
            &[(Stdout, b"out-"), (Stderr, b"err\n"), (Stdout, b"line\n")],
        );
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.0, l.2.as_str()))
                .collect::<Vec<_>>(),
            [(Stderr, "err"), (Stdout, "out-line")]
        );
    }

    #[test]
    fn timestamps_are_taken_off_every_message_and_kept_with_the_line() {
        let mut s = Splitter::new(true);
        let lines = split(
            &mut s,
            &[
                (Stdout, b"2024-05-01T12:00:00.000000001Z first\n"),
                // A long line the log driver cut in two: one line, the
                // first piece's time.
                (Stdout, b"2024-05-01T12:00:01.000000000Z long "),
                (Stdout, b"2024-05-01T12:00:01.500000000Z line\n"),
                (Stdout, b"not a time\n"),
            ],
        );
        assert_eq!(texts(&lines), ["first", "long line", "not a time"]);
        let base = UNIX_EPOCH + Duration::from_secs(1_714_564_800);
        assert_eq!(lines[0].1, Some(base + Duration::from_nanos(1)));
        assert_eq!(lines[1].1, Some(base + Duration::from_secs(1)));
    }

    #[test]
    fn several_timestamped_lines_in_one_raw_chunk() {
        let mut s = Splitter::new(true);
        let lines = split(
            &mut s,
            &[(
                Stdout,
                b"2024-05-01T12:00:00.000000000Z a\r\n2024-05-01T12:00:02.000000000Z b\n",
            )],
        );
        assert_eq!(texts(&lines), ["a\r", "b"]);
        assert_ne!(lines[0].1, lines[1].1);
    }

    #[test]
    fn a_long_raw_line_loses_the_timestamps_of_its_pieces() {
        // A TTY container's line of 16 KiB + 3 bytes, as the engine sends
        // it with timestamps: two pieces in one raw chunk.
        let mut chunk = b"2024-05-01T12:00:00.000000000Z ".to_vec();
        chunk.extend(std::iter::repeat_n(b'x', PIECE));
        chunk.extend(b"2024-05-01T12:00:00.000000001Z yyy\n2024-05-01T12:00:03.000000000Z next\n");
        let mut s = Splitter::new(true);
        let lines = split(&mut s, &[(Stdout, &chunk)]);
        let mut long = "x".repeat(PIECE);
        long.push_str("yyy");
        assert_eq!(texts(&lines), [long.as_str(), "next"]);
        // And a line of exactly one piece, its newline in the next piece.
        let mut chunk = b"2024-05-01T12:00:00.000000000Z ".to_vec();
        chunk.extend(std::iter::repeat_n(b'z', PIECE));
        chunk.extend(b"2024-05-01T12:00:00.000000001Z \n");
        let lines = split(&mut s, &[(Stdout, &chunk)]);
        assert_eq!(texts(&lines), ["z".repeat(PIECE)]);
    }

    #[test]
    fn an_endless_line_is_cut_at_the_maximum() {
        let mut s = Splitter::with_max_line(false, 4);
        let lines = split(&mut s, &[(Stdout, b"abcdefghij"), (Stdout, b"kl\nxy\n")]);
        assert_eq!(texts(&lines), ["abcd", "efgh", "ijkl", "xy"]);
    }

    #[test]
    fn a_line_of_exactly_the_maximum_is_whole() {
        let mut s = Splitter::with_max_line(false, 4);
        let lines = split(&mut s, &[(Stdout, b"abcd\nef\n")]);
        assert_eq!(texts(&lines), ["abcd", "ef"]);
    }

    #[test]
    fn text_is_lossy_and_shows_what_a_terminal_shows() {
        assert_eq!(text(b"caf\xe9 ok"), "caf\u{fffd} ok");
        assert_eq!(text(b"windows\r"), "windows");
        assert_eq!(text(b"10%\r50%\r100%"), "100%");
        assert_eq!(text(b"done\r\r"), "done");
        assert_eq!(text(b""), "");
    }
}
