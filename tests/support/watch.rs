//! `muster watch` running in the background, read line by line: how the
//! watch tests follow what it does without timing anything.
//!
//! [`Watch::start`] spawns `muster -p NAME watch ARGS...` in a [`Stack`]'s
//! directory ([`Watch::spawn`] any other command, such as `up --watch`),
//! reading its action lines (stderr) as a [`Running`] command: `wait_for`
//! the line that says a change was handled. [`Watch::interrupt`] is Ctrl-C,
//! which must end it with 130, and gives what it printed on stdout (the
//! services' logs).
//!
//! Include it after `common`, `engine_support` and `stack_support`:
//! `#[path = "support/watch.rs"] mod watch_support;`.
#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::ops::{Deref, DerefMut};

use crate::stack_support::{Lines, Running, Stack};

/// `muster watch` running in the background, its stderr lines read as they
/// come.
pub struct Watch(Running);

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
        let command = stack
            .test(args)
            .env("XDG_CACHE_HOME", &cache.path().display().to_string())
            .command();
        Self(Running::spawn(command, Lines::Stderr))
    }

    /// Ctrl-C: it ends with 130. Returns what it printed on stdout.
    pub fn interrupt(self) -> String {
        self.0.interrupt(130).1
    }
}

impl Deref for Watch {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.0
    }
}

impl DerefMut for Watch {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.0
    }
}
