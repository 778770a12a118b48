//! Readiness: when a dependency's `depends_on` condition holds, measured
//! rather than guessed, and why it failed when it does not.
//!
//! The rules are data: a [`Requirement`] (`service_started`,
//! `service_healthy`, `service_completed_successfully`) judges an
//! [`Observation`] of one container (its state, exit code, health, and
//! whether muster's own probe passed) as [`Verdict::Holds`],
//! [`Verdict::Pending`] or [`Verdict::Fails`], and nothing else decides.
//!
//! # Theory of operation
//!
//! [`wait`] waits for one container. It reads the container's state from
//! the engine's events through a [`StateWatch`] (one event stream for a
//! whole `up`, subscribed with `since` taken before anything was started,
//! so no event is lost), with a slow safety re-inspect in case one was;
//! it never polls `inspect` in a tight loop.
//!
//! For `service_healthy` it also runs the healthcheck's test itself
//! (`CMD` as is, `CMD-SHELL` under `/bin/sh -c`) through
//! [`Engine::exec`]: first [`FIRST_PROBE`] after the wait starts, then
//! backing off by [`BACKOFF`] up to the healthcheck's `interval` (and
//! [`MAX_PAUSE`]), each run bounded by its `timeout`, with no more than
//! [`PROBES_IN_FLIGHT`] probes running at once across the whole `up`
//! ([`ProbeSlots`]). The first pass, whether muster's or the
//! engine's (`health_status: healthy`), makes the dependency ready. Waiting
//! for the engine alone would cost up to a whole `interval` (30 s by
//! default) per dependency level.
//!
//! The wait fails at once when the container exits (or is removed, or the
//! engine marks it unhealthy) while it should run, and after
//! `start_period + retries × (interval + timeout)` (compose's defaults:
//! 0, 3, 30 s, 30 s) when the check never passes, or at the caller's
//! deadline. A failure ([`NotReady`]) carries the forensics: the exit code
//! or health, the engine's last healthcheck outputs, muster's own last
//! probe outputs, and the container's last 20 log lines.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::{
    ContainerDetails, ContainerState, Engine, EngineError, EventAction, EventFilter, ExecOutput,
    ExecSpec, HealthProbe, HealthStatus, HealthcheckSpec, LogOptions,
};
use crate::graph::Condition;

/// When muster first runs a healthcheck's test itself, after the wait
/// begins.
pub const FIRST_PROBE: Duration = Duration::from_millis(100);

/// How much longer each pause between muster's probes is than the last,
/// up to the healthcheck's interval (and [`MAX_PAUSE`]).
pub const BACKOFF: f64 = 1.5;

/// The longest pause between muster's own probes, whatever the interval.
/// A probe is one cheap exec; this ceiling bounds how late muster notices
/// that a dependency turned ready to a quarter of a second, for at most
/// four execs a second per service still starting (and no more than
/// [`PROBES_IN_FLIGHT`] at once). On the bench's chain stack a ceiling of
/// 500 ms cost about 0.8 s over three levels; 150 ms gained nothing more.
pub const MAX_PAUSE: Duration = Duration::from_millis(250);

/// How often a wait re-inspects the container in case an event was lost.
pub const SAFETY_RECHECK: Duration = Duration::from_secs(5);

/// How often it re-inspects when the event stream is gone.
pub const BLIND_RECHECK: Duration = Duration::from_millis(500);

/// How many log lines a failure report carries.
pub const LOG_LINES: u64 = 20;

/// How many of muster's own probe runs a failure report keeps.
const PROBES_KEPT: usize = 5;

/// Compose's healthcheck defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;

/// What a dependent waits for: a `depends_on` condition, as a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Requirement {
    /// `service_started`: the container was started.
    Started,
    /// `service_healthy`: its healthcheck's test passed once.
    Healthy,
    /// `service_completed_successfully`: it ran and exited 0.
    CompletedSuccessfully,
}

impl From<Condition> for Requirement {
    fn from(condition: Condition) -> Self {
        match condition {
            Condition::ServiceStarted => Self::Started,
            Condition::ServiceHealthy => Self::Healthy,
            Condition::ServiceCompletedSuccessfully => Self::CompletedSuccessfully,
        }
    }
}

impl Requirement {
    /// Compose's word for it, as `service_healthy`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "service_started",
            Self::Healthy => "service_healthy",
            Self::CompletedSuccessfully => "service_completed_successfully",
        }
    }

    /// What holding means, for messages: `started`, `healthy`,
    /// `completed successfully`.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Healthy => "healthy",
            Self::CompletedSuccessfully => "completed successfully",
        }
    }

    /// Judges one container.
    #[must_use]
    pub fn judge(self, seen: &Observation) -> Verdict {
        if seen.removed {
            return Verdict::Fails(Cause::Removed);
        }
        let exited = || Cause::Exited {
            code: seen.exit_code.unwrap_or_default(),
            oom_killed: seen.oom_killed,
        };
        match self {
            Self::Started => match seen.state {
                ContainerState::Created => Verdict::Pending,
                _ => Verdict::Holds,
            },
            Self::Healthy => match seen.state {
                ContainerState::Exited => Verdict::Fails(exited()),
                ContainerState::Dead => Verdict::Fails(Cause::Dead),
                ContainerState::Removing => Verdict::Fails(Cause::Removed),
                _ if !seen.has_healthcheck => Verdict::Fails(Cause::NoHealthcheck),
                _ if seen.probe_passed || seen.health == Some(HealthStatus::Healthy) => {
                    Verdict::Holds
                }
                _ if seen.health == Some(HealthStatus::Unhealthy) => {
                    Verdict::Fails(Cause::Unhealthy)
                }
                _ => Verdict::Pending,
            },
            Self::CompletedSuccessfully => match seen.state {
                ContainerState::Exited if seen.exit_code.unwrap_or_default() == 0 => Verdict::Holds,
                ContainerState::Exited => Verdict::Fails(exited()),
                ContainerState::Dead => Verdict::Fails(Cause::Dead),
                ContainerState::Removing => Verdict::Fails(Cause::Removed),
                _ => Verdict::Pending,
            },
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about one container at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Its lifecycle state.
    pub state: ContainerState,
    /// Its exit code, once it exited.
    pub exit_code: Option<i64>,
    /// Its health as the engine reports it, when it has a healthcheck.
    pub health: Option<HealthStatus>,
    /// Whether it has a healthcheck (its own or its image's).
    pub has_healthcheck: bool,
    /// Whether muster's own run of the healthcheck's test passed.
    pub probe_passed: bool,
    /// Whether it was killed for running out of memory.
    pub oom_killed: bool,
    /// Whether it was removed.
    pub removed: bool,
}

impl Observation {
    /// What `inspect` says.
    #[must_use]
    pub fn from_details(details: &ContainerDetails) -> Self {
        let status = &details.status;
        let exited = matches!(status.state, ContainerState::Exited | ContainerState::Dead);
        Self {
            state: status.state,
            exit_code: exited.then_some(status.exit_code),
            health: details.health_status(),
            has_healthcheck: HealthTiming::of(details.healthcheck.as_ref()).is_some(),
            probe_passed: false,
            oom_killed: status.oom_killed,
            removed: false,
        }
    }
}

/// The outcome of judging an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The requirement holds.
    Holds,
    /// Not yet.
    Pending,
    /// It cannot hold any more, for this cause.
    Fails(Cause),
}

/// Why a requirement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The container exited (while it should run, or with a code other
    /// than 0).
    Exited {
        /// Its exit code.
        code: i64,
        /// Whether it was killed for running out of memory.
        oom_killed: bool,
    },
    /// The engine marked it unhealthy.
    Unhealthy,
    /// The engine marked it dead.
    Dead,
    /// It was removed.
    Removed,
    /// `service_healthy` on a container without a healthcheck.
    NoHealthcheck,
    /// The requirement did not hold in time.
    TimedOut {
        /// How long the wait lasted.
        after: Duration,
        /// Which limit ran out.
        limit: Limit,
    },
    /// The engine failed while muster watched the container.
    Engine(String),
}

/// The limit a wait ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// `start_period + retries × (interval + timeout)` of the healthcheck.
    Healthcheck(HealthTiming),
    /// The caller's wait timeout, counted from when it began.
    WaitTimeout(Duration),
}

/// The caller's limit on a whole operation's waiting: `timeout`, ending
/// `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// When it runs out.
    pub at: Instant,
    /// The whole timeout it stands for.
    pub timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    #[must_use]
    pub fn after(timeout: Duration) -> Self {
        Self {
            at: Instant::now() + timeout,
            timeout,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited { code, oom_killed } => {
                write!(f, "exited with code {code}")?;
                if *oom_killed {
                    f.write_str(" (killed for running out of memory)")?;
                }
                Ok(())
            }
            Self::Unhealthy => f.write_str("turned unhealthy"),
            Self::Dead => f.write_str("is dead (the engine could not stop or remove it)"),
            Self::Removed => f.write_str("was removed"),
            Self::NoHealthcheck => f.write_str(
                "has no healthcheck, so it can never be healthy: add a `healthcheck` to it, \
                 or depend on it with `condition: service_started`",
            ),
            Self::TimedOut { after, limit } => match limit {
                Limit::Healthcheck(t) => write!(
                    f,
                    "was not ready after {} (start_period {} + retries {} x (interval {} + timeout {}))",
                    seconds(*after),
                    seconds(t.start_period),
                    t.retries,
                    seconds(t.interval),
                    seconds(t.timeout)
                ),
                Limit::WaitTimeout(timeout) => write!(
                    f,
                    "was not ready within the wait timeout of {} (waited {} for it)",
                    seconds(*timeout),
                    seconds(*after)
                ),
            },
            Self::Engine(message) => write!(f, "could not be watched: {message}"),
        }
    }
}

/// A healthcheck's test and timing, with compose's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTiming {
    /// The command muster runs to probe: `CMD` arguments as they are,
    /// `CMD-SHELL` under `/bin/sh -c`.
    pub command: Vec<String>,
    /// Time between the engine's checks.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// Failures in a row that make the container unhealthy.
    pub retries: u32,
    /// Grace period during which failures do not count.
    pub start_period: Duration,
}

impl HealthTiming {
    /// The timing of `spec`; `None` without a runnable test (no
    /// healthcheck, `NONE`, or an empty test).
    #[must_use]
    pub fn of(spec: Option<&HealthcheckSpec>) -> Option<Self> {
        let spec = spec?;
        let command = probe_command(&spec.test)?;
        let nonzero = |d: Option<Duration>, default| d.filter(|d| !d.is_zero()).unwrap_or(default);
        Some(Self {
            command,
            interval: nonzero(spec.interval, DEFAULT_INTERVAL),
            timeout: nonzero(spec.timeout, DEFAULT_TIMEOUT),
            retries: spec.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
            start_period: spec.start_period.unwrap_or_default(),
        })
    }

    /// How long after the start a check that never passes is given up:
    /// `start_period + retries × (interval + timeout)`.
    #[must_use]
    pub fn give_up_after(&self) -> Duration {
        self.start_period + (self.interval + self.timeout) * self.retries
    }

    /// The pauses between muster's own probes.
    #[must_use]
    pub fn cadence(&self) -> Cadence {
        Cadence::new(self.interval.min(MAX_PAUSE))
    }
}

/// The command to run for a healthcheck test: `["CMD", args...]` gives
/// `args`, `["CMD-SHELL", script]` gives `["/bin/sh", "-c", script]`;
/// `None` for `NONE`, an empty test or an unknown form.
#[must_use]
pub fn probe_command(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, args) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
        (kind, [script]) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), script.clone()])
        }
        _ => None,
    }
}

/// The pauses before muster's own probes: [`FIRST_PROBE`], then each
/// [`BACKOFF`] times the last, never more than `max` (the healthcheck's
/// interval).
#[derive(Debug, Clone)]
pub struct Cadence {
    next: Duration,
    max: Duration,
}

impl Cadence {
    /// A cadence that backs off up to `max`.
    #[must_use]
    pub fn new(max: Duration) -> Self {
        Self {
            next: FIRST_PROBE.min(max),
            max,
        }
    }
}

impl Iterator for Cadence {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let pause = self.next;
        // Whole milliseconds: the timer's resolution.
        let next = Duration::from_millis(
            pause
                .mul_f64(BACKOFF)
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
        );
        self.next = next.min(self.max);
        Some(pause)
    }
}

/// What the events said about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Facts {
    /// Bumped on every event about it.
    seq: u64,
    state: Option<ContainerState>,
    exit_code: Option<i64>,
    health: Option<HealthStatus>,
    oom_killed: bool,
    removed: bool,
}

impl Facts {
    fn apply_to(&self, seen: &mut Observation) {
        if let Some(state) = self.state {
            seen.state = state;
            seen.exit_code = if state == ContainerState::Exited {
                self.exit_code
            } else {
                None
            };
        }
        if let Some(health) = self.health {
            seen.health = Some(health);
        }
        seen.oom_killed |= self.oom_killed;
        seen.removed |= self.removed;
    }
}

#[derive(Debug, Default)]
struct Board {
    facts: HashMap<String, Facts>,
    /// The event stream ended: waits fall back to re-inspecting.
    blind: bool,
}

#[derive(Debug)]
struct WatchShared {
    board: Mutex<Board>,
    changed: watch::Sender<u64>,
}

impl WatchShared {
    fn lock(&self) -> MutexGuard<'_, Board> {
        self.board
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The state of containers as the engine's events tell it: one event
/// stream, read by one task, for every wait of an operation. Cheap to
/// clone; the task stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct StateWatch {
    shared: Arc<WatchShared>,
    _task: Arc<AbortOnDrop>,
}

impl StateWatch {
    /// Starts reading `engine`'s events that match `filter` (give it a
    /// `since` taken before anything you will wait for was started).
    #[must_use]
    pub fn start(engine: Arc<dyn Engine>, filter: &EventFilter) -> Self {
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(WatchShared {
            board: Mutex::new(Board::default()),
            changed,
        });
        let mut events = engine.events(filter);
        let reader = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                {
                    let mut board = reader.lock();
                    let facts = board.facts.entry(event.id.clone()).or_default();
                    facts.seq += 1;
                    match &event.action {
                        EventAction::Start | EventAction::Restart | EventAction::Unpause => {
                            facts.state = Some(ContainerState::Running);
                        }
                        EventAction::Die => {
                            facts.state = Some(ContainerState::Exited);
                            facts.exit_code = event.exit_code();
                        }
                        EventAction::Oom => facts.oom_killed = true,
                        EventAction::Pause => facts.state = Some(ContainerState::Paused),
                        EventAction::Destroy => facts.removed = true,
                        EventAction::HealthStatus(health) => facts.health = Some(*health),
                        _ => {}
                    }
                }
                reader.changed.send_modify(|n| *n += 1);
            }
            reader.lock().blind = true;
            reader.changed.send_modify(|n| *n += 1);
        });
        Self {
            shared,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    fn seq(&self, id: &str) -> u64 {
        self.shared.lock().facts.get(id).map_or(0, |f| f.seq)
    }

    /// Applies what the events said about `id` since `seq` to `seen`, and
    /// returns the new `seq`.
    fn update(&self, id: &str, seq: u64, seen: &mut Observation) -> u64 {
        let board = self.shared.lock();
        match board.facts.get(id) {
            Some(facts) if facts.seq > seq => {
                facts.apply_to(seen);
                facts.seq
            }
            _ => seq,
        }
    }

    fn is_blind(&self) -> bool {
        self.shared.lock().blind
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }
}

/// One run of a healthcheck's test by muster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRun {
    /// When it ended, since the wait began.
    pub at: Duration,
    /// Its exit code; `None` when it timed out or could not run.
    pub exit_code: Option<i64>,
    /// What it printed (or why it could not run).
    pub output: String,
}

/// What muster saw of a container that did not become ready.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forensics {
    /// Its state when the wait ended.
    pub state: Option<ContainerState>,
    /// Its exit code, when it exited.
    pub exit_code: Option<i64>,
    /// Its health, when it has a healthcheck.
    pub health: Option<HealthStatus>,
    /// The engine's error about it, as when its process could not start.
    pub error: Option<String>,
    /// The engine's last healthcheck runs, oldest first.
    pub engine_probes: Vec<HealthProbe>,
    /// muster's own last probe runs, oldest first.
    pub own_probes: Vec<ProbeRun>,
    /// Its last log lines, oldest first.
    pub logs: Vec<String>,
}

/// A container that did not reach its requirement, with why and what was
/// seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// The container's name.
    pub container: String,
    /// What was waited for.
    pub requirement: Requirement,
    /// Why it cannot hold.
    pub cause: Cause,
    /// What was seen.
    pub forensics: Forensics,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "container {} {}", self.container, self.cause)?;
        let facts = &self.forensics;
        if let Some(error) = &facts.error {
            write!(f, "\n  engine error: {error}")?;
        }
        if let Some(health) = facts.health
            && !matches!(self.cause, Cause::Unhealthy)
        {
            write!(f, "\n  health: {health}")?;
        }
        if !facts.engine_probes.is_empty() {
            f.write_str("\n  last healthcheck runs by the engine:")?;
            for probe in &facts.engine_probes {
                write!(
                    f,
                    "\n    exit {}: {}",
                    probe.exit_code,
                    one_line(&probe.output)
                )?;
            }
        }
        if !facts.own_probes.is_empty() {
            f.write_str("\n  last healthcheck runs by muster:")?;
            for probe in &facts.own_probes {
                let code = probe
                    .exit_code
                    .map_or_else(|| "-".to_owned(), |c| c.to_string());
                write!(
                    f,
                    "\n    at {} exit {code}: {}",
                    seconds(probe.at),
                    one_line(&probe.output)
                )?;
            }
        }
        if facts.logs.is_empty() {
            f.write_str("\n  (no log output)")?;
        } else {
            write!(f, "\n  last {} log lines:", facts.logs.len())?;
            for line in &facts.logs {
                write!(f, "\n    | {line}")?;
            }
        }
        Ok(())
    }
}

fn one_line(output: &str) -> String {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        return "(no output)".to_owned();
    }
    trimmed.lines().collect::<Vec<_>>().join(" / ")
}

/// `2.3 s`, `250 ms`, `1 min 30 s`: durations as people write them.
#[must_use]
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        let secs = d.as_secs();
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// One container to wait for.
#[derive(Debug, Clone)]
pub struct WaitFor {
    /// Its id.
    pub id: String,
    /// Its name, for messages.
    pub name: String,
    /// What to wait for.
    pub requirement: Requirement,
    /// Its healthcheck as created; `None` to read it from the engine (the
    /// image's).
    pub healthcheck: Option<HealthcheckSpec>,
    /// What is already known (as from a listing); when it already holds,
    /// the wait asks the engine nothing.
    pub known: Option<Observation>,
    /// When to give up regardless of the healthcheck.
    pub deadline: Option<Deadline>,
    /// Probe at once rather than after [`FIRST_PROBE`]: for a container
    /// that was already running before the wait.
    pub probe_at_once: bool,
}

/// How many of muster's own probes may run at once across a whole `up`.
/// A probe is an exec, which costs the engine about a quarter of a
/// container start; unbounded, the probes of a wide stack's services that
/// are already starting slow down the starts of the others.
pub const PROBES_IN_FLIGHT: usize = 4;

/// The least pause between two probes of one container.
const MIN_GAP: Duration = Duration::from_millis(20);

/// The longest a probe waits for container starts in flight to finish.
/// Starts go first: a service that was just started cannot be ready
/// sooner than its application allows, while every probe run during a
/// burst of starts (a wide stack) slows those starts down. The bound keeps
/// a long stream of starts from starving the probes.
pub const PROBE_DEFER: Duration = Duration::from_secs(1);

/// The bound on muster's probes in flight, shared by every wait of an `up`,
/// and the count of container starts in flight, which probes let go first
/// (up to [`PROBE_DEFER`]).
#[derive(Debug)]
pub struct ProbeSlots {
    slots: tokio::sync::Semaphore,
    starting: watch::Sender<usize>,
}

impl ProbeSlots {
    /// At most `n` probes at once (at least one).
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self {
            slots: tokio::sync::Semaphore::new(n.max(1)),
            starting: watch::Sender::new(0),
        }
    }

    /// Counts a container start in flight until the guard drops.
    #[must_use]
    pub fn starting(&self) -> StartInFlight<'_> {
        self.starting.send_modify(|n| *n += 1);
        StartInFlight(&self.starting)
    }

    /// Waits until no container start is in flight, or `limit` passed.
    pub async fn starts_settled(&self, limit: Duration) {
        let mut starting = self.starting.subscribe();
        let _ = tokio::time::timeout(limit, starting.wait_for(|n| *n == 0)).await;
    }

    /// A probe's turn: once no start is in flight (or after
    /// [`PROBE_DEFER`]), and a slot is free.
    async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.starts_settled(PROBE_DEFER).await;
        self.slots.acquire().await.ok()
    }
}

/// A container start in flight (see [`ProbeSlots::starting`]).
#[derive(Debug)]
pub struct StartInFlight<'a>(&'a watch::Sender<usize>);

impl Drop for StartInFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Default for ProbeSlots {
    fn default() -> Self {
        Self::new(PROBES_IN_FLIGHT)
    }
}

type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Result<ExecOutput, EngineError>> + Send + 'a>>;

/// Waits until `target` meets its requirement, or fails with the
/// forensics. `Requirement::Started` holds for anything that was started.
///
/// # Errors
/// [`NotReady`] when the container exits, is removed, turns unhealthy,
/// has no healthcheck for `service_healthy`, or runs out of time.
pub async fn wait(
    engine: &dyn Engine,
    watch: &StateWatch,
    probes: &ProbeSlots,
    target: &WaitFor,
) -> Result<(), Box<NotReady>> {
    if let Some(known) = &target.known
        && target.requirement.judge(known) == Verdict::Holds
    {
        return Ok(());
    }
    let began = Instant::now();
    let mut changes = watch.subscribe();
    let mut seq = watch.seq(&target.id);
    let mut own_probes: Vec<ProbeRun> = Vec::new();
    let fail = |cause: Cause, own_probes: Vec<ProbeRun>| async move {
        Err(Box::new(NotReady {
            container: target.name.clone(),
            requirement: target.requirement,
            forensics: forensics(engine, &target.id, own_probes).await,
            cause,
        }))
    };

    let details = match engine.inspect_container(&target.id).await {
        Ok(details) => details,
        Err(e) if e.is_not_found() => return fail(Cause::Removed, own_probes).await,
        Err(e) => return fail(Cause::Engine(e.to_string()), own_probes).await,
    };
    let mut seen = Observation::from_details(&details);
    let timing = HealthTiming::of(
        target
            .healthcheck
            .as_ref()
            .filter(|h| !h.test.is_empty())
            .or(details.healthcheck.as_ref()),
    );
    seen.has_healthcheck = timing.is_some();
    seq = watch.update(&target.id, seq, &mut seen);

    let probing = target.requirement == Requirement::Healthy;
    let (health_deadline, mut cadence) = match (&timing, probing) {
        (Some(t), true) => {
            // The container started at most a moment ago; count from now.
            (
                Some((began + t.give_up_after(), t.clone())),
                Some(t.cadence()),
            )
        }
        _ => (None, None),
    };
    let deadline = match (health_deadline.as_ref().map(|(d, _)| *d), target.deadline) {
        (Some(h), Some(w)) if w.at < h => Some((w.at, Limit::WaitTimeout(w.timeout))),
        (Some(h), _) => health_deadline.map(|(_, t)| (h, Limit::Healthcheck(t))),
        (None, Some(w)) => Some((w.at, Limit::WaitTimeout(w.timeout))),
        (None, None) => None,
    };
    let exec = timing.as_ref().map(|t| ExecSpec {
        cmd: t.command.clone(),
        timeout: Some(t.timeout),
        ..ExecSpec::default()
    });

    let mut next_probe = if target.probe_at_once && cadence.is_some() {
        Some(began)
    } else {
        cadence.as_mut().and_then(Iterator::next).map(|p| began + p)
    };
    let mut probe: Option<ProbeFuture<'_>> = None;
    let mut probe_began = began;
    let mut next_recheck = began + recheck_pause(watch);
    let far = began + Duration::from_secs(365 * 24 * 3600);

    loop {
        match target.requirement.judge(&seen) {
            Verdict::Holds => return Ok(()),
            Verdict::Fails(cause) => return fail(cause, own_probes).await,
            Verdict::Pending => {}
        }
        let probe_at = if probe.is_none() { next_probe } else { None };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    // The watch is gone: lean on re-inspecting.
                    next_recheck = next_recheck.min(Instant::now() + BLIND_RECHECK);
                }
                seq = watch.update(&target.id, seq, &mut seen);
                if watch.is_blind() {
                    next_recheck = next_recheck.min(Instant::now() + BLIND_RECHECK);
                }
            }
            () = tokio::time::sleep_until(probe_at.unwrap_or(far)), if probe_at.is_some() => {
                if let Some(spec) = &exec {
                    let id = &target.id;
                    probe = Some(Box::pin(async move {
                        let _turn = probes.turn().await;
                        engine.exec(id, spec).await
                    }));
                }
                probe_began = Instant::now();
                next_probe = None;
            }
            outcome = async { probe.as_mut().expect("guarded").await }, if probe.is_some() => {
                probe = None;
                let at = began.elapsed();
                let run = match outcome {
                    Ok(out) if out.timed_out => ProbeRun {
                        at,
                        exit_code: None,
                        output: format!(
                            "timed out after {}",
                            seconds(timing.as_ref().map_or(DEFAULT_TIMEOUT, |t| t.timeout))
                        ),
                    },
                    Ok(out) => {
                        seen.probe_passed |= out.success();
                        ProbeRun { at, exit_code: out.exit_code, output: out.output }
                    }
                    Err(e) => {
                        // Usually: it no longer runs. Look at once.
                        next_recheck = Instant::now();
                        ProbeRun { at, exit_code: None, output: e.to_string() }
                    }
                };
                own_probes.push(run);
                if own_probes.len() > PROBES_KEPT {
                    own_probes.remove(0);
                }
                // Paced from when the last probe began, so a slow exec
                // does not stretch the cadence; never back to back.
                next_probe = cadence
                    .as_mut()
                    .and_then(Iterator::next)
                    .map(|p| (probe_began + p).max(Instant::now() + MIN_GAP));
            }
            () = tokio::time::sleep_until(next_recheck) => {
                match engine.inspect_container(&target.id).await {
                    Ok(details) => {
                        let passed = seen.probe_passed;
                        let has = seen.has_healthcheck;
                        seen = Observation::from_details(&details);
                        seen.probe_passed = passed;
                        seen.has_healthcheck = has;
                        seq = watch.seq(&target.id);
                    }
                    Err(e) if e.is_not_found() => seen.removed = true,
                    Err(_) => {}
                }
                next_recheck = Instant::now() + recheck_pause(watch);
            }
            () = tokio::time::sleep_until(deadline.as_ref().map_or(far, |(d, _)| *d)), if deadline.is_some() => {
                let (_, limit) = deadline.expect("guarded");
                let cause = Cause::TimedOut { after: began.elapsed(), limit };
                return fail(cause, own_probes).await;
            }
        }
    }
}

fn recheck_pause(watch: &StateWatch) -> Duration {
    if watch.is_blind() {
        BLIND_RECHECK
    } else {
        SAFETY_RECHECK
    }
}

/// Gathers what the engine knows about a container that failed: its
/// state, health log and last log lines.
async fn forensics(engine: &dyn Engine, id: &str, own_probes: Vec<ProbeRun>) -> Forensics {
    let limit = Duration::from_secs(5);
    let inspect = tokio::time::timeout(limit, engine.inspect_container(id));
    let logs = tokio::time::timeout(limit, last_lines(engine, id, LOG_LINES));
    let (details, logs) = tokio::join!(inspect, logs);
    let mut out = Forensics {
        own_probes,
        logs: logs.unwrap_or_default(),
        ..Forensics::default()
    };
    if let Ok(Ok(details)) = details {
        let status = &details.status;
        out.state = Some(status.state);
        if matches!(status.state, ContainerState::Exited | ContainerState::Dead) {
            out.exit_code = Some(status.exit_code);
        }
        if !status.error.is_empty() {
            out.error = Some(status.error.clone());
        }
        if let Some(health) = &status.health {
            out.health = Some(health.status);
            out.engine_probes.clone_from(&health.log);
        }
    }
    out
}

/// The last `n` lines a container printed.
async fn last_lines(engine: &dyn Engine, id: &str, n: u64) -> Vec<String> {
    let options = LogOptions {
        tail: Some(n),
        ..LogOptions::default()
    };
    let mut stream = engine.logs(id, &options);
    let mut text = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.extend_from_slice(&chunk.data);
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    let skip = lines
        .len()
        .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
    lines.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(state: ContainerState) -> Observation {
        Observation {
            state,
            has_healthcheck: true,
            ..Observation::default()
        }
    }

    #[test]
    fn rules_judge_each_state() {
        use ContainerState::{Created, Exited, Running};
        let healthy = Requirement::Healthy;
        assert_eq!(healthy.judge(&seen(Running)), Verdict::Pending);
        let mut s = seen(Running);
        s.probe_passed = true;
        assert_eq!(healthy.judge(&s), Verdict::Holds);
        s.probe_passed = false;
        s.health = Some(HealthStatus::Unhealthy);
        assert_eq!(healthy.judge(&s), Verdict::Fails(Cause::Unhealthy));
        let mut s = seen(Exited);
        s.exit_code = Some(2);
        assert_eq!(
            healthy.judge(&s),
            Verdict::Fails(Cause::Exited {
                code: 2,
                oom_killed: false
            })
        );
        assert_eq!(
            Requirement::CompletedSuccessfully.judge(&s),
            Verdict::Fails(Cause::Exited {
                code: 2,
                oom_killed: false
            })
        );
        s.exit_code = Some(0);
        assert_eq!(Requirement::CompletedSuccessfully.judge(&s), Verdict::Holds);
        assert_eq!(
            Requirement::CompletedSuccessfully.judge(&seen(Running)),
            Verdict::Pending
        );
        assert_eq!(Requirement::Started.judge(&seen(Created)), Verdict::Pending);
        assert_eq!(Requirement::Started.judge(&s), Verdict::Holds);
        let mut none = seen(Running);
        none.has_healthcheck = false;
        assert_eq!(healthy.judge(&none), Verdict::Fails(Cause::NoHealthcheck));
    }

    #[test]
    fn tests_become_commands() {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            probe_command(&v(&["CMD", "pg_isready", "-U", "x"])),
            Some(v(&["pg_isready", "-U", "x"]))
        );
        assert_eq!(
            probe_command(&v(&["CMD-SHELL", "curl -f localhost || exit 1"])),
            Some(v(&["/bin/sh", "-c", "curl -f localhost || exit 1"]))
        );
        assert_eq!(probe_command(&v(&["NONE"])), None);
        assert_eq!(probe_command(&v(&["CMD"])), None);
        assert_eq!(probe_command(&[]), None);
    }

    #[test]
    fn compose_defaults_give_up_after_three_minutes() {
        let timing = HealthTiming::of(Some(&HealthcheckSpec {
            test: vec!["CMD".into(), "true".into()],
            ..HealthcheckSpec::default()
        }))
        .unwrap();
        assert_eq!(timing.give_up_after(), Duration::from_secs(180));
        let timing = HealthTiming::of(Some(&HealthcheckSpec {
            test: vec!["CMD".into(), "true".into()],
            interval: Some(Duration::from_secs(1)),
            timeout: Some(Duration::from_millis(500)),
            retries: Some(2),
            start_period: Some(Duration::from_secs(4)),
            start_interval: None,
        }))
        .unwrap();
        assert_eq!(timing.give_up_after(), Duration::from_secs(7));
    }

    #[test]
    fn the_cadence_backs_off_up_to_the_interval() {
        let pauses: Vec<u128> = Cadence::new(Duration::from_secs(1))
            .take(8)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(pauses, [100, 150, 225, 337, 505, 757, 1000, 1000]);
        let short: Vec<u128> = Cadence::new(Duration::from_millis(50))
            .take(2)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(short, [50, 50]);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(seconds(Duration::from_millis(250)), "250 ms");
        assert_eq!(seconds(Duration::from_millis(2340)), "2.3 s");
        assert_eq!(seconds(Duration::from_secs(90)), "1 min 30 s");
    }
}
