//! What the orchestrator tells the outside world while it works.
//!
//! The library reports, the CLI draws: every step of `up`, `down` and the
//! rest is a typed [`Event`] handed to a [`Reporter`]. The CLI renders them
//! as progress lines on a terminal, plain timestamped lines in a log, or
//! JSON lines for tools; tests collect them and assert on them.

use std::sync::Mutex;
use std::time::Duration;

/// What kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A container (one replica of a service).
    Container,
    /// A network.
    Network,
    /// A named volume.
    Volume,
    /// An image.
    Image,
}

/// Why a service's containers are recreated: the fields that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Top-level service fields whose value differs from the running
    /// container's (`environment`, `image`, ...), or `["--force-recreate"]`.
    pub fields: Vec<String>,
}

/// One step of an operation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An object is being created.
    Creating { kind: ObjectKind, name: String },
    /// An object was created.
    Created { kind: ObjectKind, name: String },
    /// A service's containers will be recreated, and why.
    Recreating { service: String, changes: Changes },
    /// A running container is restarted because dependencies it declares
    /// with `restart: true` were (re)created or started by this `up`.
    Restarting {
        service: String,
        container: String,
        because: Vec<String>,
    },
    /// A container is starting.
    Starting { service: String, container: String },
    /// A container started.
    Started { service: String, container: String },
    /// A service waits for its dependencies' conditions.
    Waiting {
        service: String,
        /// `(dependency, condition)`, e.g. `("db", "service_healthy")`.
        on: Vec<(String, String)>,
    },
    /// A service is ready: its condition for dependents holds (running,
    /// healthy, or exited 0), `elapsed` after the operation began.
    Ready { service: String, elapsed: Duration },
    /// A service's containers already match the file and run: nothing to do.
    UpToDate { service: String },
    /// A one-shot service exited with this code.
    Exited {
        service: String,
        container: String,
        code: i64,
    },
    /// A service failed; `reason` says why in one line.
    Failed { service: String, reason: String },
    /// A service was not started because a dependency failed.
    Skipped { service: String, because: String },
    /// An object is being stopped.
    Stopping { kind: ObjectKind, name: String },
    /// An object was stopped.
    Stopped { kind: ObjectKind, name: String },
    /// An object is being removed.
    Removing { kind: ObjectKind, name: String },
    /// An object was removed.
    Removed { kind: ObjectKind, name: String },
    /// Something the user should know that is not a failure.
    Note { message: String },
    /// A service's image is being built, and why (`3 files changed since
    /// the image was built`).
    Building {
        service: String,
        image: String,
        reason: String,
    },
    /// A build step began, as `4/9 RUN npm ci`.
    BuildStep { service: String, step: String },
    /// A line of a service's build output.
    BuildOutput { service: String, line: String },
    /// A service's image was built.
    Built {
        service: String,
        image: String,
        elapsed: Duration,
    },
    /// A service's image matches its inputs: nothing to build.
    ImageUpToDate { service: String, image: String },
    /// What `watch` did about a change (see [`WatchEvent`]).
    Watch(WatchEvent),
    /// The whole operation finished; `summary` is one line such as the
    /// critical path (`ready in 4.8 s: db 2.3 s -> api 1.3 s -> web 1.2 s`).
    Done { summary: String },
}

/// What `watch` (`src/watch`) did, one action line each.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// Watching began: the services watched and the directories watched
    /// (one watch each).
    Watching {
        services: Vec<String>,
        watches: usize,
    },
    /// A sync rule's path is bind-mounted into the service: changes are
    /// there at once, muster does not copy them.
    BindMounted { service: String, path: String },
    /// Files were copied into (or deleted from) a service's containers.
    Synced {
        service: String,
        files: usize,
        elapsed: Duration,
    },
    /// A service's containers were restarted, after a sync or a change
    /// (`because` names the service whose recreation caused it).
    Restarted {
        service: String,
        because: Option<String>,
    },
    /// A `sync+exec` command ran in a service's container.
    Executed {
        service: String,
        command: String,
        exit_code: Option<i64>,
    },
    /// A service's image was rebuilt and its containers recreated and
    /// ready again.
    Rebuilt {
        service: String,
        build: Duration,
        ready: Duration,
    },
    /// A watch action, a rebuild or a reload failed; `reason` says why
    /// (and, for a rebuild or a reload, that the old containers run on).
    Failed {
        service: Option<String>,
        reason: String,
    },
    /// A project file changed: the project was read again and converged.
    Reloaded { file: String, summary: String },
}

/// Receives events. Implementations must be cheap and must not block for
/// long: they are called from the orchestrator's tasks.
pub trait Reporter: Send + Sync {
    /// Handles one event.
    fn report(&self, event: Event);
}

/// A reporter that drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: Event) {}
}

/// A reporter that keeps every event, for tests and for callers that
/// render at the end.
#[derive(Debug, Default)]
pub struct Collect {
    events: Mutex<Vec<Event>>,
}

impl Collect {
    /// The events received so far, in order.
    #[must_use]
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Reporter for Collect {
    fn report(&self, event: Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}
