//! A compose project on the real engine, named after the test's scope, run
//! with the real `muster` binary, and the guard that takes it down: shared
//! by the CLI tests that need a stack (`cli_stack`, `cli_logs`, `cli_watch`),
//! and [`Running`]: a command such as `logs -f` or `watch` followed line by
//! line.
//!
//! Include it after `common` and `engine_support`:
//! `#[path = "support/stack.rs"] mod stack_support;`.
#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use muster::engine::{DockerEngine, Engine, LabelFilter, LogOptions, RemoveContainerOptions};

use crate::common::{Output, Test};
use crate::engine_support::{SCOPE_LABEL, TEST_IMAGE, TestScope};

pub const PROJECT_LABEL: &str = "com.docker.compose.project";

/// A compose project in a temp dir, named after the test's scope, and the
/// guard that takes it down.
///
/// In the `services:` body given to [`Stack::new`], `@` stands for what
/// every service gets: the test image, a quick stop and the scope label.
pub struct Stack {
    pub name: String,
    dir: tempfile::TempDir,
    // Declared last, so dropped last: its sweep comes after `down`.
    scope: TestScope,
}

impl Stack {
    pub fn new(scope: TestScope, body: &str) -> Self {
        let stack = Self {
            name: scope.scope.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            scope,
        };
        stack.write(body);
        stack
    }

    /// Writes `compose.yaml` (again): `body` is the `services:` mapping;
    /// a named volume `data` is declared, labelled too.
    pub fn write(&self, body: &str) {
        let label = format!("labels: {{{SCOPE_LABEL}: {}}}", self.scope.scope);
        let common =
            format!("image: {TEST_IMAGE}\n    init: true\n    stop_grace_period: 1s\n    {label}");
        let yaml = format!(
            "services:\n{}\nnetworks:\n  default:\n    {label}\nvolumes:\n  data:\n    {label}\n",
            body.replace('@', &common),
        );
        std::fs::write(self.dir.path().join("compose.yaml"), yaml).expect("write compose.yaml");
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `muster -p NAME ARGS...` in the project directory.
    pub fn test(&self, args: &[&str]) -> Test {
        Test::at(self.root())
            .args(["-p", self.name.as_str()])
            .args(args)
    }

    pub fn muster(&self, args: &[&str]) -> Output {
        self.test(args).run()
    }

    pub fn engine(&self) -> &DockerEngine {
        &self.scope.engine
    }

    /// The project's containers, by the compose project label.
    pub async fn containers(&self) -> Vec<muster::engine::ContainerSummary> {
        self.engine()
            .list_containers(&[LabelFilter::equals(PROJECT_LABEL, &self.name)])
            .await
            .expect("list containers")
    }

    /// The id of the one container of `service`, from `ps -q SERVICE`.
    pub fn id(&self, service: &str) -> String {
        let out = self.muster(&["ps", "-q", service]).success();
        let ids: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(ids.len(), 1, "one container for {service}:\n{out:?}");
        ids[0].to_owned()
    }

    /// The rows of `ps --format json` (with `-a` when `all`).
    pub fn ps(&self, all: bool) -> Vec<serde_json::Value> {
        let mut args = vec!["ps", "--format", "json"];
        if all {
            args.push("-a");
        }
        let out = self.muster(&args).success();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{out:?}"))
    }

    /// The row of `service` in `rows`.
    pub fn row<'a>(rows: &'a [serde_json::Value], service: &str) -> &'a serde_json::Value {
        rows.iter()
            .find(|r| r["Service"] == service)
            .unwrap_or_else(|| panic!("no row for {service} in {rows:#?}"))
    }

    /// Everything a container printed so far.
    pub async fn logs(&self, container: &str) -> String {
        use futures_util::StreamExt;
        let mut stream = self.engine().logs(container, &LogOptions::default());
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap_or_else(|e| panic!("logs of {container}: {e}"));
            text.push_str(&String::from_utf8_lossy(&chunk.data));
        }
        text
    }

    /// The logs of `container` once they contain `marker` (polled, a
    /// bounded number of times).
    pub async fn logs_with(&self, container: &str, marker: &str) -> String {
        let mut text = String::new();
        for _ in 0..300 {
            text = self.logs(container).await;
            if text.contains(marker) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{container} never printed {marker:?}; its logs:\n{text}");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let down = self.muster(&["down", "-v", "-t", "0"]);
        if down.status.code() != Some(0) {
            eprintln!("cleanup `down` of {}:\n{down:?}", self.name);
        }
        let name = self.name.clone();
        let swept = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(sweep(&name))
        })
        .join();
        match swept {
            Ok(Ok(())) => {}
            Ok(Err(message)) => eprintln!("sweep of {}: {message}", self.name),
            Err(_) => eprintln!("sweep of {} panicked", self.name),
        }
    }
}

/// Removes what still carries the compose project label `name`.
async fn sweep(name: &str) -> Result<(), String> {
    let engine = DockerEngine::connect().await.map_err(|e| e.to_string())?;
    let filter = [LabelFilter::equals(PROJECT_LABEL, name)];
    let mut problems = Vec::new();
    let mut note = |result: Result<(), muster::engine::EngineError>| {
        if let Err(e) = result
            && !e.is_not_found()
        {
            problems.push(e.to_string());
        }
    };
    let options = RemoveContainerOptions {
        force: true,
        volumes: true,
    };
    for c in engine
        .list_containers(&filter)
        .await
        .map_err(|e| e.to_string())?
    {
        note(engine.remove_container(&c.id, options).await);
    }
    for n in engine
        .list_networks(&filter)
        .await
        .map_err(|e| e.to_string())?
    {
        note(engine.remove_network(&n.id).await);
    }
    for v in engine
        .list_volumes(&filter)
        .await
        .map_err(|e| e.to_string())?
    {
        note(engine.remove_volume(&v.name, true).await);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Reads a child's pipe to its end on a thread.
pub fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The child's exit code, polling a bounded number of times; kills it and
/// fails when it does not end.
pub fn wait_bounded(child: &mut Child) -> Option<i32> {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().expect("wait for muster") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("muster did not exit after SIGINT");
}

/// Which output of a [`Running`] command its lines are read from.
pub enum Lines {
    Stdout,
    Stderr,
}

/// A `muster` command running in the background (`logs -f`, `watch`,
/// `up --watch`): one of its outputs read line by line as it comes, the
/// other kept whole. Tests wait (boundedly) for the line that says what
/// they expect, never for a time. Dropping it kills the process if it
/// still runs.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    other: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    /// Spawns `command`, reading `read` line by line.
    pub fn spawn(mut command: Command, read: Lines) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn muster");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        let send_lines = move |pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        };
        let other = match read {
            Lines::Stdout => {
                send_lines(Box::new(stdout));
                drain(stderr)
            }
            Lines::Stderr => {
                send_lines(Box::new(stderr));
                drain(stdout)
            }
        };
        Self {
            child,
            lines,
            seen: Vec::new(),
            other: Some(other),
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
            "muster never printed {text:?}; it printed:\n{:#?}",
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
                    "muster never printed {missing:?}; it printed:\n{:#?}",
                    self.seen
                );
            };
            missing.retain(|text| !next.contains(text));
            self.seen.push(next);
        }
    }

    /// The lines so far that contain `text`, after reading what comes
    /// within half a second.
    pub fn count(&mut self, text: &str) -> usize {
        while let Ok(next) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(next);
        }
        self.seen.iter().filter(|l| l.contains(text)).count()
    }

    /// Ctrl-C: it must end with `code`. Returns every line read and the
    /// whole of the other output.
    pub fn interrupt(mut self, code: i32) -> (Vec<String>, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let ended = wait_bounded(&mut self.child);
        let other = self
            .other
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        while let Ok(next) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(next);
        }
        assert_eq!(
            ended,
            Some(code),
            "lines: {:#?}\nthe other output: {other}",
            self.seen
        );
        (std::mem::take(&mut self.seen), other)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
