//! `muster watch` running in the background, read line by line: how the
//! watch tests follow what it does without timing anything.
//!
//! [`Watch::start`] spawns `muster -p NAME watch ARGS...` in a [`Stack`]'s
//! directory ([`Watch::spawn`] any other command, such as `up --watch`);
//! [`Watch::wait_for`] waits (boundedly) for the action line that says a
//! change was handled; [`Watch::interrupt`] is Ctrl-C, which must end it
//! with 130, and gives what it printed on stdout (the services' logs).
//! Dropping it kills the process if it still runs.
//!
//! Include it after `common`, `engine_support` and `stack_support`:
//! `#[path = "support/watch.rs"] mod watch_support;`.
#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::stack_support::{Stack, drain, wait_bounded};

/// `muster watch` running in the background, its stderr lines sent as they
/// come.
pub struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub seen: Vec<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Watch {
    /// `muster watch ARGS...` in `stack`'s directory, with `cache` as its
    /// `XDG_CACHE_HOME` (give `up` the same one, so both see the same
    /// build records).
    pub fn start(stack: &Stack, cache: &tempfile::TempDir, args: &[&str]) -> Self {
        let mut all = vec!["watch"];
        all.extend_from_slice(args);
        Self::spawn(stack, cache, &all)
    }

    /// `muster ARGS...` in `stack`'s directory, read as [`Watch::start`]
    /// does.
    pub fn spawn(stack: &Stack, cache: &tempfile::TempDir, args: &[&str]) -> Self {
        let mut child = stack
            .test(args)
            .env("XDG_CACHE_HOME", &cache.path().display().to_string())
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn muster watch");
        let stdout = drain(child.stdout.take().expect("stdout"));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            stdout: Some(stdout),
        }
    }

    /// Waits (a bounded time) for a new line containing `text`; returns it.
    pub fn wait_for(&mut self, text: &str) -> String {
        while let Ok(next) = self.lines.recv_timeout(Duration::from_secs(90)) {
            let found = next.contains(text);
            self.seen.push(next.clone());
            if found {
                return next;
            }
        }
        panic!(
            "`watch` never printed {text:?}; it printed:\n{:#?}",
            self.seen
        );
    }

    /// Waits (a bounded time) for new lines containing each of `texts`,
    /// in any order (services act in parallel).
    pub fn wait_for_each(&mut self, texts: &[&str]) {
        let mut missing: Vec<&str> = texts.to_vec();
        while !missing.is_empty() {
            let Ok(next) = self.lines.recv_timeout(Duration::from_secs(90)) else {
                panic!(
                    "`watch` never printed {missing:?}; it printed:\n{:#?}",
                    self.seen
                );
            };
            missing.retain(|text| !next.contains(text));
            self.seen.push(next);
        }
    }

    /// The lines so far that contain `text` (after reading what is there).
    pub fn count(&mut self, text: &str) -> usize {
        while let Ok(next) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(next);
        }
        self.seen.iter().filter(|l| l.contains(text)).count()
    }

    /// Ctrl-C: it ends with 130. Returns what it printed on stdout.
    pub fn interrupt(mut self) -> String {
        let status = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let code = wait_bounded(&mut self.child);
        let stdout = self
            .stdout
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        while let Ok(next) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(next);
        }
        assert_eq!(code, Some(130), "{:#?}", self.seen);
        stdout
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
