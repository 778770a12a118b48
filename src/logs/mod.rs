//! The output of a project's containers, merged, and followed across
//! restarts and recreation: what `muster logs` and an attached `muster up`
//! show.
//!
//! [`logs`] finds the project's containers by compose's labels (as `ps`
//! and `down` do, so no compose file is needed), reads each one's output
//! from the engine, cuts it into lines ([`split`]) and yields typed
//! [`LogEvent`]s on one channel. It knows nothing of terminals: the CLI
//! draws prefixes, colours and JSON.
//!
//! # Theory of operation
//!
//! - One *reader* task per container at a time reads its stream in order
//!   and sends its lines, so the order within a container is kept; lines of
//!   different containers interleave as they come.
//! - Without `follow`, the readers read what the engine has and the
//!   channel closes when the last is done.
//! - With `follow`, a *supervisor* subscribes to the engine's container
//!   events of the project (from a moment taken before listing, so that no
//!   start is missed between the list and the subscription), then:
//!   - a container that starts and is not being read gets a reader: a new
//!     one (scaled up, recreated by `up` or `watch`) from its first line, a
//!     restarted one from the last line already shown. The engine's `since`
//!     counts in whole seconds, so lines are asked for with timestamps and
//!     those not later than the last shown are dropped: nothing repeats;
//!   - when a reader's stream ends (the container stopped), the container
//!     is inspected: stopped, an [`LogEvent::Exited`] follows its last
//!     line; already running again (a restart faster than the event), it
//!     is read again at once;
//!   - when no container is being read, and after [`SETTLE`] none is
//!     running or restarting either (so a container that `up` recreates is
//!     waited for), the channel closes: every followed container stopped
//!     for good. Dropping [`Logs`] (Ctrl-C) stops everything at once.

mod split;
pub mod time;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::engine::{
    ContainerState, ContainerSummary, Engine, EngineError, EngineEvent, EventAction, EventFilter,
    EventObject, LogOptions, LogStream,
};
use crate::orchestrator::spec::{self, labels};

pub use split::{MAX_LINE, Splitter, text};
pub use time::{TimeError, parse_time};

/// How long `follow` waits, once no container runs, for one to start again
/// (a recreation by `up` removes the old container before it starts the new
/// one) before it ends.
pub const SETTLE: Duration = Duration::from_secs(2);

/// How many events may wait for the reader of [`Logs`] before the readers
/// pause (the engine then holds the rest: memory stays flat).
const BUFFER: usize = 1024;

/// Which output to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsOptions {
    /// Only these services; empty for all.
    pub services: Vec<String>,
    /// Only the replica with this number (`--index`).
    pub index: Option<u32>,
    /// Keep following: new output, and containers that start later.
    pub follow: bool,
    /// Only the last `n` lines of each container found at the start
    /// (containers that start later are shown from their first line).
    pub tail: Option<u64>,
    /// Only output since then.
    pub since: Option<SystemTime>,
    /// Only output before then.
    pub until: Option<SystemTime>,
    /// Read the engine's timestamps ([`LogLine::timestamp`]). `follow`
    /// reads them anyway, to continue a restarted container exactly.
    pub timestamps: bool,
}

/// A container whose output is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its service (`com.docker.compose.service`).
    pub service: String,
    /// Its replica number (`com.docker.compose.container-number`), or 1.
    pub number: u32,
    /// Its name.
    pub container: String,
    /// Its id.
    pub id: String,
}

impl Source {
    /// `api-1`: what compose writes before each line.
    #[must_use]
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.service, self.number)
    }

    fn from_labels(id: &str, name: &str, labels: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            service: labels(labels::SERVICE).unwrap_or_default(),
            number: labels(labels::CONTAINER_NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
            container: name.to_owned(),
            id: id.to_owned(),
        }
    }

    fn of_summary(c: &ContainerSummary) -> Self {
        Self::from_labels(&c.id, c.name(), |k| c.label(k).map(str::to_owned))
    }

    fn of_event(e: &EngineEvent) -> Self {
        Self::from_labels(&e.id, e.name().unwrap_or(&e.id), |k| {
            e.attribute(k).map(str::to_owned)
        })
    }
}

/// One line a container wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The container.
    pub source: Arc<Source>,
    /// stdout or stderr (a container with a TTY has only stdout).
    pub stream: LogStream,
    /// When the engine received it, when [`LogsOptions::timestamps`] asks.
    pub timestamp: Option<SystemTime>,
    /// The text, without its newline: see [`text`] for how bytes that are
    /// not UTF-8 and carriage returns are shown.
    pub text: String,
}

/// What [`Logs`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogEvent {
    /// A container is being read from now on (those found at the start all
    /// come before the first line, so prefixes can be padded alike).
    Attached(Arc<Source>),
    /// A line of output.
    Line(LogLine),
    /// A followed container stopped, after its last line.
    Exited {
        /// The container.
        source: Arc<Source>,
        /// Its exit code.
        exit_code: i64,
    },
}

/// A failure while reading logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogsError {
    /// The project's containers could not be listed: nothing to read.
    #[error("cannot list the containers of project {project}: {source}")]
    List {
        /// The project.
        project: String,
        /// The engine's error.
        source: EngineError,
    },
    /// One container's output could not be read (the others go on).
    #[error("cannot read the logs of {container}: {source}")]
    Read {
        /// The container's name.
        container: String,
        /// The engine's error.
        source: EngineError,
    },
    /// The engine's events could not be watched: containers that start
    /// from now on are not picked up.
    #[error("cannot watch the containers of project {project}: {source}")]
    Events {
        /// The project.
        project: String,
        /// The engine's error.
        source: EngineError,
    },
}

/// The merged output of a project's containers, as a channel of events.
/// Dropping it stops every reader.
#[derive(Debug)]
pub struct Logs {
    events: mpsc::Receiver<Result<LogEvent, LogsError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Logs {
    /// The next event; `None` when everything was read (or, following,
    /// every container stopped for good).
    pub async fn next(&mut self) -> Option<Result<LogEvent, LogsError>> {
        self.events.recv().await
    }

    /// The next event if one is ready now (to write out what is there
    /// before flushing).
    pub fn try_next(&mut self) -> Option<Result<LogEvent, LogsError>> {
        self.events.try_recv().ok()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the output of `project`'s containers (one-off containers aside),
/// as `options` says. Must be called within a tokio runtime.
#[must_use]
pub fn logs(engine: Arc<dyn Engine>, project: &str, options: LogsOptions) -> Logs {
    let (tx, rx) = mpsc::channel(BUFFER);
    let supervisor = Supervisor {
        engine,
        project: project.to_owned(),
        options,
        tx,
        containers: HashMap::new(),
        readers: JoinSet::new(),
    };
    Logs {
        events: rx,
        task: tokio::spawn(supervisor.run()),
    }
}

type Sender = mpsc::Sender<Result<LogEvent, LogsError>>;

/// What the supervisor knows of one container.
#[derive(Debug)]
struct Tracked {
    source: Arc<Source>,
    /// When its current reader was started; `None` when none reads it.
    reading_since: Option<SystemTime>,
    /// A start event came while it was still being read: read it again.
    restarted: bool,
    /// The timestamp of the last line shown.
    last: Option<SystemTime>,
    /// Its exit was told since its last reader started.
    exit_told: bool,
    /// The exit code of a `die` event that came while it was being read:
    /// told when the reader ends, even if it is running again by then.
    died: Option<i64>,
}

/// A reader's end.
#[derive(Debug)]
struct Done {
    id: String,
    last: Option<SystemTime>,
}

struct Supervisor {
    engine: Arc<dyn Engine>,
    project: String,
    options: LogsOptions,
    tx: Sender,
    containers: HashMap<String, Tracked>,
    readers: JoinSet<Done>,
}

impl Supervisor {
    async fn run(mut self) {
        let subscribed_at = SystemTime::now();
        let mut events = self.options.follow.then(|| {
            self.engine.events(&EventFilter {
                labels: vec![spec::project_filter(&self.project)],
                objects: vec![EventObject::Container],
                since: Some(subscribed_at),
            })
        });
        let listed = match self
            .engine
            .list_containers(&[spec::project_filter(&self.project)])
            .await
        {
            Ok(listed) => listed,
            Err(source) => {
                let project = self.project.clone();
                let _ = self.tx.send(Err(LogsError::List { project, source })).await;
                return;
            }
        };
        let mut sources: Vec<Source> = listed
            .iter()
            .filter(|c| c.label(labels::ONEOFF) != Some("True"))
            .map(Source::of_summary)
            .filter(|s| self.wanted(s))
            .collect();
        sources.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
        for source in sources {
            if !self.attach(source).await {
                return;
            }
        }
        let ids: Vec<String> = self.containers.keys().cloned().collect();
        for id in ids {
            let options = self.engine_options(self.options.follow, self.options.tail, None);
            self.read(&id, options);
        }
        let mut settle: Option<Instant> = None;
        loop {
            tokio::select! {
                done = self.readers.join_next() => match done {
                    Some(Ok(done)) => self.reader_done(done).await,
                    Some(Err(_)) => {}
                    None => {
                        if !self.options.follow {
                            return;
                        }
                        // Nothing is read: wait a moment for a start.
                        if settle.is_none() {
                            settle = Some(Instant::now() + SETTLE);
                        }
                        if events.is_none() {
                            return;
                        }
                        self.wait_for_event(&mut events, &mut settle).await;
                        if settle.is_some_and(|at| at <= Instant::now()) {
                            if self.any_running().await {
                                settle = Some(Instant::now() + SETTLE);
                            } else {
                                return;
                            }
                        }
                    }
                },
                event = next_event(&mut events) => {
                    self.on_event(event, &mut events).await;
                }
                () = self.tx.closed() => return,
            }
            if !self.readers.is_empty() {
                settle = None;
            }
        }
    }

    /// With no reader running: waits for one event, or the settle time.
    async fn wait_for_event(
        &mut self,
        events: &mut Option<crate::engine::EngineStream<EngineEvent>>,
        settle: &mut Option<Instant>,
    ) {
        let deadline = settle.unwrap_or_else(Instant::now);
        tokio::select! {
            event = next_event(events) => self.on_event(event, events).await,
            () = tokio::time::sleep_until(deadline) => {}
            () = self.tx.closed() => *settle = Some(Instant::now()),
        }
    }

    /// Tells the consumer about a container and starts tracking it;
    /// `false` when the consumer is gone.
    async fn attach(&mut self, source: Source) -> bool {
        let id = source.id.clone();
        let source = Arc::new(source);
        if self
            .tx
            .send(Ok(LogEvent::Attached(source.clone())))
            .await
            .is_err()
        {
            return false;
        }
        self.containers.insert(
            id,
            Tracked {
                source,
                reading_since: None,
                restarted: false,
                last: None,
                exit_told: false,
                died: None,
            },
        );
        true
    }

    fn wanted(&self, source: &Source) -> bool {
        (self.options.services.is_empty() || self.options.services.contains(&source.service))
            && self.options.index.is_none_or(|i| i == source.number)
    }

    /// What to ask the engine for. It counts `since` and `until` in whole
    /// seconds, so it is asked for a little more (and for timestamps), and
    /// the readers keep exactly the lines in the window; following, lines
    /// are read with timestamps to continue after a restart exactly.
    fn engine_options(
        &self,
        follow: bool,
        tail: Option<u64>,
        after: Option<SystemTime>,
    ) -> LogOptions {
        let since = after.or(self.options.since);
        let until = self.options.until;
        LogOptions {
            follow,
            tail,
            since,
            until: until.map(|u| u + Duration::from_secs(1)),
            timestamps: self.options.timestamps || follow || since.is_some() || until.is_some(),
        }
    }

    /// Starts a reader for a tracked container.
    fn read(&mut self, id: &str, options: LogOptions) {
        let Some(tracked) = self.containers.get_mut(id) else {
            return;
        };
        tracked.reading_since = Some(SystemTime::now());
        tracked.restarted = false;
        tracked.exit_told = false;
        tracked.died = None;
        let reader = Reader {
            engine: self.engine.clone(),
            source: tracked.source.clone(),
            options,
            after: tracked.last,
            window: (self.options.since, self.options.until),
            timestamps: self.options.timestamps,
            tx: self.tx.clone(),
        };
        self.readers.spawn(reader.run());
    }

    /// Reads a container again after a restart, from after its last line.
    fn read_again(&mut self, id: &str) {
        let last = self.containers.get(id).and_then(|t| t.last);
        let options = self.engine_options(true, None, last);
        self.read(id, options);
    }

    async fn reader_done(&mut self, done: Done) {
        let Some(tracked) = self.containers.get_mut(&done.id) else {
            return;
        };
        let started = tracked.reading_since.take();
        // Nothing shown (`--tail 0`): what came before this reader is not
        // to be shown after a restart either.
        tracked.last = done.last.or(tracked.last).or(started);
        let restarted = std::mem::take(&mut tracked.restarted);
        let died = tracked.died.take();
        let source = tracked.source.clone();
        if !self.options.follow {
            return;
        }
        match self.engine.inspect_container(&done.id).await {
            Ok(details) if details.status.running && !details.status.restarting => {
                // Running again already (a restart faster than its event):
                // go on reading. A stream that ended on a container that
                // did not restart is left until its next start.
                let again = details
                    .status
                    .started_at
                    .zip(started)
                    .is_some_and(|(s, r)| s > r);
                if again || restarted {
                    // It did stop in between: say so before its next run.
                    if let Some(code) = died {
                        self.tell_exit(&done.id, source, code).await;
                    }
                    self.read_again(&done.id);
                }
            }
            // Never started: its start comes as an event.
            Ok(details) if details.status.state == ContainerState::Created => {}
            Ok(details) => {
                self.tell_exit(&done.id, source, details.status.exit_code)
                    .await;
                if restarted {
                    self.read_again(&done.id);
                }
            }
            // Removed (`down`, a recreation): nothing more to say of it.
            Err(_) => {
                self.containers.remove(&done.id);
            }
        }
    }

    async fn on_event(
        &mut self,
        event: Option<Result<EngineEvent, EngineError>>,
        events: &mut Option<crate::engine::EngineStream<EngineEvent>>,
    ) {
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(source)) => {
                *events = None;
                let project = self.project.clone();
                let _ = self
                    .tx
                    .send(Err(LogsError::Events { project, source }))
                    .await;
                return;
            }
            None => {
                *events = None;
                return;
            }
        };
        match event.action {
            EventAction::Start | EventAction::Restart => {}
            EventAction::Die => {
                // Told here when no reader will tell it (its stream had
                // ended before the container stopped); else kept for the
                // reader's end, which may find it running again already.
                let code = event.exit_code().unwrap_or_default();
                if let Some(tracked) = self.containers.get_mut(&event.id) {
                    if tracked.reading_since.is_none() {
                        let source = tracked.source.clone();
                        self.tell_exit(&event.id, source, code).await;
                    } else {
                        tracked.died = Some(code);
                    }
                }
                return;
            }
            EventAction::Destroy => {
                if self
                    .containers
                    .get(&event.id)
                    .is_some_and(|t| t.reading_since.is_none())
                {
                    self.containers.remove(&event.id);
                }
                return;
            }
            _ => return,
        }
        if event.attribute(labels::ONEOFF) == Some("True") {
            return;
        }
        if let Some(tracked) = self.containers.get_mut(&event.id) {
            match tracked.reading_since {
                Some(since) => {
                    // A start from before this reader began is one it
                    // already reads (the replay of events since listing).
                    if event.time.is_none_or(|t| t > since) {
                        tracked.restarted = true;
                    }
                }
                None => self.read_again(&event.id),
            }
            return;
        }
        let source = Source::of_event(&event);
        if !self.wanted(&source) {
            return;
        }
        if !self.attach(source).await {
            return;
        }
        // A container new to us: all of it, from its first line.
        let options = self.engine_options(true, None, None);
        self.read(&event.id, options);
    }

    /// Sends [`LogEvent::Exited`], once per run of the container.
    async fn tell_exit(&mut self, id: &str, source: Arc<Source>, exit_code: i64) {
        let Some(tracked) = self.containers.get_mut(id) else {
            return;
        };
        if std::mem::replace(&mut tracked.exit_told, true) {
            return;
        }
        let _ = self
            .tx
            .send(Ok(LogEvent::Exited { source, exit_code }))
            .await;
    }

    /// Whether a followed container runs (or restarts) without a reader;
    /// the exits of those that stopped are told.
    async fn any_running(&mut self) -> bool {
        let ids: Vec<String> = self.containers.keys().cloned().collect();
        let mut any = false;
        for id in ids {
            match self.engine.inspect_container(&id).await {
                Ok(details) if details.status.restarting => any = true,
                Ok(details) if details.status.running => {
                    let started = details.status.started_at;
                    let read = self.containers.get(&id).and_then(|t| t.last);
                    // Started after its last line: read it again.
                    if started.zip(read).is_some_and(|(s, r)| s > r) {
                        self.read_again(&id);
                    }
                    any = true;
                }
                Ok(details) if details.status.state == ContainerState::Created => {}
                // Stopped, maybe before its `die` event came: say so (once).
                Ok(details) => {
                    if let Some(source) = self.containers.get(&id).map(|t| t.source.clone()) {
                        self.tell_exit(&id, source, details.status.exit_code).await;
                    }
                }
                Err(_) => {
                    self.containers.remove(&id);
                }
            }
        }
        any
    }
}

/// The next event; pending forever when there is no event stream.
async fn next_event(
    events: &mut Option<crate::engine::EngineStream<EngineEvent>>,
) -> Option<Result<EngineEvent, EngineError>> {
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// Reads one container's stream to its end.
struct Reader {
    engine: Arc<dyn Engine>,
    source: Arc<Source>,
    options: LogOptions,
    /// Lines not later than this were shown already.
    after: Option<SystemTime>,
    /// Only lines from `.0` to `.1` (`--since`, `--until`).
    window: (Option<SystemTime>, Option<SystemTime>),
    /// Whether lines carry their timestamps ([`LogsOptions::timestamps`]).
    timestamps: bool,
    tx: Sender,
}

impl Reader {
    async fn run(self) -> Done {
        let mut stream = self.engine.logs(&self.source.id, &self.options);
        let mut splitter = Splitter::new(self.options.timestamps);
        let mut last = self.after;
        let mut lines: Vec<LogLine> = Vec::new();
        let mut failed = None;
        let mut ended = false;
        while !ended {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    splitter.push(chunk.stream, &chunk.data, &mut |stream, time, bytes| {
                        self.collect(&mut lines, &mut last, stream, time, bytes);
                    });
                }
                Some(Err(e)) => {
                    failed = Some(e);
                    ended = true;
                }
                None => ended = true,
            }
            if ended {
                splitter.finish(&mut |stream, time, bytes| {
                    self.collect(&mut lines, &mut last, stream, time, bytes);
                });
            }
            for line in lines.drain(..) {
                if self.tx.send(Ok(LogEvent::Line(line))).await.is_err() {
                    return self.done(last);
                }
            }
        }
        if let Some(source) = failed
            && !source.is_not_found()
        {
            let container = self.source.container.clone();
            let _ = self
                .tx
                .send(Err(LogsError::Read { container, source }))
                .await;
        }
        self.done(last)
    }

    fn collect(
        &self,
        lines: &mut Vec<LogLine>,
        last: &mut Option<SystemTime>,
        stream: LogStream,
        time: Option<SystemTime>,
        bytes: &[u8],
    ) {
        if let Some(time) = time {
            let shown = self.after.is_some_and(|after| time <= after);
            let early = self.window.0.is_some_and(|since| time < since);
            let late = self.window.1.is_some_and(|until| time > until);
            if shown || early || late {
                return;
            }
        }
        if time.is_some() {
            *last = time;
        }
        lines.push(LogLine {
            source: self.source.clone(),
            stream,
            timestamp: time.filter(|_| self.timestamps),
            text: text(bytes),
        });
    }

    fn done(&self, last: Option<SystemTime>) -> Done {
        Done {
            id: self.source.id.clone(),
            last,
        }
    }
}

#[cfg(test)]
mod tests;
