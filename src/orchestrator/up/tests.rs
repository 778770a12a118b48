//! `up` on the scripted [`FakeEngine`], under tokio's paused clock: the
//! scheduler, readiness and convergence, in milliseconds of wall-clock
//! time, with exact virtual timestamps.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::ContainerState;
use crate::engine::fake::{FakeEngine, Op, Script};
use crate::model::{LoadedProject, ProjectOptions, load};
use crate::orchestrator::error::OrchestratorError;
use crate::orchestrator::events::{Collect, Event, Reporter};
use crate::orchestrator::readiness::{PROBES_IN_FLIGHT, Requirement};

use super::{ProjectLock, UpFailure, UpOptions, UpSummary, up};

const IMAGE: &str = "img";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A compose project in a temp dir, loadable again after edits.
struct Project {
    dir: tempfile::TempDir,
    name: String,
}

impl Project {
    fn new(test: &str, yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let name = format!("{test}-{}", std::process::id()).replace('_', "-");
        let project = Self { dir, name };
        project.write(yaml);
        project
    }

    fn write(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("compose.yaml"), yaml).expect("write compose.yaml");
    }

    fn load(&self) -> LoadedProject {
        let options = ProjectOptions {
            project_name: Some(self.name.clone()),
            ..ProjectOptions::in_dir(self.dir.path())
        };
        load(&options).unwrap_or_else(|e| panic!("{e}"))
    }

    fn container(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.name)
    }
}

fn engine() -> FakeEngine {
    let engine = FakeEngine::new();
    engine.add_image(IMAGE);
    engine
}

async fn run(
    engine: &FakeEngine,
    project: &Project,
    options: &UpOptions,
) -> (Result<UpSummary, OrchestratorError>, Vec<Event>) {
    let collect = Arc::new(Collect::default());
    let reporter: Arc<dyn Reporter> = collect.clone();
    let result = up(Arc::new(engine.clone()), &project.load(), options, reporter).await;
    (result, collect.events())
}

async fn run_ok(engine: &FakeEngine, project: &Project, options: &UpOptions) -> UpSummary {
    match run(engine, project, options).await {
        (Ok(summary), _) => summary,
        (Err(e), _) => panic!("up failed: {e}\n\ncalls:\n{}", engine.transcript()),
    }
}

async fn run_err(
    engine: &FakeEngine,
    project: &Project,
    options: &UpOptions,
) -> (UpFailure, Vec<Event>) {
    match run(engine, project, options).await {
        (Err(OrchestratorError::UpFailed(failure)), events) => (*failure, events),
        (Err(e), _) => panic!("up failed otherwise: {e}"),
        (Ok(summary), _) => panic!("up succeeded: {}\n{}", summary.line(), engine.transcript()),
    }
}

fn start_of(engine: &FakeEngine, container: &str) -> Duration {
    engine
        .first(Op::StartContainer, container)
        .unwrap_or_else(|| panic!("{container} was never started\n{}", engine.transcript()))
}

const CHECK: &str = "healthcheck: {test: [CMD, ready], interval: 30s}";

#[tokio::test(start_paused = true)]
async fn independent_services_start_at_the_same_moment() {
    let project = Project::new(
        "parallel",
        "services:\n  web: {image: img}\n  worker: {image: img}\n  cache: {image: img}\n",
    );
    let engine = engine();
    engine.script_default(Script::new().start_delay(ms(200)));
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    let starts: Vec<Duration> = ["web", "worker", "cache"]
        .iter()
        .map(|s| start_of(&engine, &project.container(s, 1)))
        .collect();
    assert_eq!(starts, [starts[0]; 3], "{}", engine.transcript());
    assert!(summary.elapsed <= ms(250), "{:?}", summary.elapsed);

    // Bounded: one engine call at a time serializes the starts.
    let project = Project::new(
        "serial",
        "services:\n  web: {image: img}\n  worker: {image: img}\n  cache: {image: img}\n",
    );
    let options = UpOptions {
        max_parallel: 1,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &options).await;
    assert!(summary.elapsed >= ms(600), "{:?}", summary.elapsed);
}

#[tokio::test(start_paused = true)]
async fn a_diamond_starts_the_bottom_once_both_sides_are_healthy() {
    let project = Project::new(
        "diamond",
        &format!(
            "services:
  a: {{image: img, {CHECK}}}
  b: {{image: img, {CHECK}, depends_on: {{a: {{condition: service_healthy}}}}}}
  c: {{image: img, {CHECK}, depends_on: {{a: {{condition: service_healthy}}}}}}
  d:
    image: img
    depends_on: {{b: {{condition: service_healthy}}, c: {{condition: service_healthy}}}}
"
        ),
    );
    let engine = engine();
    engine
        .script_service("a", Script::new().passes_after(ms(1000)))
        .script_service("b", Script::new().passes_after(ms(2000)))
        .script_service("c", Script::new().passes_after(ms(300)));
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    let name = |s: &str| project.container(s, 1);
    let a_ready = engine.probe_passed_at(&name("a")).unwrap();
    let b_ready = engine.probe_passed_at(&name("b")).unwrap();
    let c_ready = engine.probe_passed_at(&name("c")).unwrap();
    // b and c start the moment a's probe passes, together.
    assert_eq!(start_of(&engine, &name("b")), a_ready);
    assert_eq!(start_of(&engine, &name("c")), a_ready);
    // d starts the moment the later of b and c is healthy, not before.
    assert!(c_ready < b_ready);
    assert_eq!(
        start_of(&engine, &name("d")),
        b_ready,
        "{}",
        engine.transcript()
    );
    // Containers are all created up front, before any dependency is ready.
    for s in ["a", "b", "c", "d"] {
        assert_eq!(
            engine.first(Op::CreateContainer, &name(s)),
            Some(Duration::ZERO)
        );
    }
    let path: Vec<&str> = summary
        .critical_path
        .iter()
        .map(|s| s.service.as_str())
        .collect();
    assert_eq!(path, ["a", "b", "d"]);
    let total: Duration = summary.critical_path.iter().map(|s| s.took).sum();
    assert_eq!(total, summary.service("d").unwrap().ready_at.unwrap());
    assert!(
        summary.line().starts_with("ready in "),
        "{}",
        summary.line()
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_migration_skips_its_dependents_and_says_why() {
    let project = Project::new(
        "migration",
        "services:
  db: {image: img}
  migrate:
    image: img
    depends_on: [db]
  api:
    image: img
    depends_on: {migrate: {condition: service_completed_successfully}}
  web:
    image: img
    depends_on: [api]
  other: {image: img}
",
    );
    let engine = engine();
    engine.script_service(
        "migrate",
        Script::new().exits_after(ms(700), 1).logs([
            "applying 0001_init",
            "error: relation \"users\" already exists",
        ]),
    );
    let (failure, events) = run_err(&engine, &project, &UpOptions::default()).await;
    assert_eq!(failure.failed.len(), 1);
    assert_eq!(failure.failed[0].service, "migrate");
    assert_eq!(failure.failed[0].reason, "exited with code 1");
    let skipped: Vec<(&str, &str)> = failure
        .not_started
        .iter()
        .map(|s| (s.service.as_str(), s.because.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("api", "dependency \"migrate\" exited with code 1"),
            ("web", "dependency \"api\" was not started"),
        ]
    );
    assert_eq!(failure.ready, ["db", "other"]);
    let report = failure.to_string();
    for needle in [
        "service \"migrate\" failed: exited with code 1",
        "| error: relation \"users\" already exists",
        "api: dependency \"migrate\" exited with code 1",
    ] {
        assert!(report.contains(needle), "{needle:?} not in:\n{report}");
    }
    assert!(events.contains(&Event::Skipped {
        service: "api".into(),
        because: "dependency \"migrate\" exited with code 1".into(),
    }));
    assert_eq!(
        engine.first(Op::StartContainer, &project.container("api", 1)),
        None
    );
    assert_eq!(engine.now(), ms(700), "failed at once");
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_crashes_while_awaited_fails_at_once() {
    let project = Project::new(
        "crash",
        &format!(
            "services:
  db: {{image: img, {CHECK}}}
  api: {{image: img, depends_on: {{db: {{condition: service_healthy}}}}}}
"
        ),
    );
    let engine = engine();
    engine.script_service(
        "db",
        Script::new()
            .never_passes()
            .exits_after(ms(1500), 137)
            .probe_output("ok", "connection refused")
            .logs(["starting", "out of memory"]),
    );
    let (failure, _) = run_err(&engine, &project, &UpOptions::default()).await;
    assert_eq!(failure.failed[0].reason, "exited with code 137");
    assert_eq!(
        engine.now(),
        ms(1500),
        "not after the healthcheck's 3 minutes"
    );
    let report = failure.to_string();
    assert!(
        report.contains("last healthcheck runs by muster"),
        "{report}"
    );
    assert!(report.contains("connection refused"), "{report}");
    assert!(report.contains("| out of memory"), "{report}");
    assert_eq!(failure.not_started[0].service, "api");
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_turns_unhealthy_fails_at_once() {
    let project = Project::new(
        "unhealthy",
        "services:
  db:
    image: img
    healthcheck: {test: [CMD, ready], interval: 1s, retries: 2}
  api: {image: img, depends_on: {db: {condition: service_healthy}}}
",
    );
    let engine = engine();
    engine.script_service("db", Script::new().never_passes());
    let (failure, _) = run_err(&engine, &project, &UpOptions::default()).await;
    assert_eq!(failure.failed[0].reason, "turned unhealthy");
    // The engine's second failed check, not start_period + 2 x (1 s + 30 s).
    assert_eq!(engine.now(), ms(2000));
    let report = failure.to_string();
    assert!(
        report.contains("last healthcheck runs by the engine"),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_never_passes_fails_at_the_wait_timeout() {
    let project = Project::new(
        "timeout",
        &format!(
            "services:
  db: {{image: img, {CHECK}}}
  api: {{image: img, depends_on: {{db: {{condition: service_healthy}}}}}}
"
        ),
    );
    let engine = engine();
    engine.script_service("db", Script::new().never_passes());
    let options = UpOptions {
        wait_timeout: Some(Duration::from_secs(5)),
        ..UpOptions::default()
    };
    let (failure, _) = run_err(&engine, &project, &options).await;
    assert!(
        failure.failed[0]
            .reason
            .starts_with("was not ready within the wait timeout of 5.0 s"),
        "{}",
        failure.failed[0].reason
    );
    assert_eq!(engine.now(), Duration::from_secs(5));

    // Without one, the healthcheck's own limit, start_period + 3 x (30 s +
    // 30 s), for an engine that never says unhealthy by itself.
    let engine = self::engine();
    engine.script_service("db", Script::new().never_passes().no_engine_checks());
    let project = Project::new(
        "healthlimit",
        "services:
  db:
    image: img
    healthcheck: {test: [CMD, ready], interval: 30s, start_period: 200s}
  api: {image: img, depends_on: {db: {condition: service_healthy}}}
",
    );
    let (failure, _) = run_err(&engine, &project, &UpOptions::default()).await;
    assert!(
        failure.failed[0]
            .reason
            .contains("(start_period 3 min 20 s + retries 3 x (interval 30.0 s + timeout 30.0 s))"),
        "{}",
        failure.failed[0].reason
    );
    assert_eq!(engine.now(), Duration::from_secs(200 + 180));
}

#[tokio::test(start_paused = true)]
async fn muster_probes_at_100_ms_then_backs_off_to_a_quarter_second() {
    let project = Project::new(
        "cadence",
        "services:
  db:
    image: img
    healthcheck: {test: [CMD, ready], interval: 1s, start_period: 60s}
  api: {image: img, depends_on: {db: {condition: service_healthy}}}
",
    );
    let engine = engine();
    engine.script_service("db", Script::new().passes_after(ms(5000)));
    run_ok(&engine, &project, &UpOptions::default()).await;
    let db = project.container("db", 1);
    let running = engine.running_at(&db).unwrap();
    let times = engine.exec_times(&db);
    assert_eq!(times[0] - running, ms(100), "{times:?}");
    let gaps: Vec<u128> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // Backing off by 1.5, but never more than MAX_PAUSE (the interval is 1 s).
    assert_eq!(gaps[..6], [150, 225, 250, 250, 250, 250], "{gaps:?}");
    // The engine's own check (every second) made it healthy at 5 s; the
    // dependent started then, whichever saw it first.
    let api = start_of(&engine, &project.container("api", 1));
    assert_eq!(api, running + ms(5000));
}

#[tokio::test(start_paused = true)]
async fn musters_probe_beats_the_engines_first_interval() {
    let project = Project::new(
        "probe-first",
        &format!(
            "services:
  db: {{image: img, {CHECK}}}
  api: {{image: img, depends_on: {{db: {{condition: service_healthy}}}}}}
"
        ),
    );
    let engine = engine();
    engine.script_service("db", Script::new().passes_after(ms(400)));
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    let api = start_of(&engine, &project.container("api", 1));
    assert_eq!(
        api,
        engine.probe_passed_at(&project.container("db", 1)).unwrap()
    );
    assert!(api < ms(1000), "{api:?}: not the engine's 30 s interval");
    assert!(engine.calls_of(Op::HealthCheck).is_empty());
    assert_eq!(
        summary.service("db").unwrap().ready_means,
        Some(Requirement::Healthy)
    );
}

/// A small deterministic generator, so the random graph is the same on
/// every run.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(start_paused = true)]
async fn two_hundred_services_with_random_dependencies_come_up() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut yaml = String::from("services:\n");
    let mut edges = Vec::new();
    let engine = engine();
    let is_job = |i: usize| i % 10 == 3;
    for i in 0..200 {
        let name = format!("s{i:03}");
        yaml.push_str(&format!("  {name}:\n    image: img\n    {CHECK}\n"));
        let mut deps = Vec::new();
        if i > 0 {
            for _ in 0..rng.below(4) {
                let j = usize::try_from(rng.below(i as u64)).unwrap();
                let dep = format!("s{j:03}");
                if deps.iter().any(|(d, _)| *d == dep) {
                    continue;
                }
                let condition = if is_job(j) {
                    "service_completed_successfully"
                } else if rng.below(2) == 0 {
                    "service_healthy"
                } else {
                    "service_started"
                };
                deps.push((dep, condition));
            }
        }
        if !deps.is_empty() {
            yaml.push_str("    depends_on:\n");
            for (dep, condition) in &deps {
                yaml.push_str(&format!("      {dep}: {{condition: {condition}}}\n"));
                edges.push((name.clone(), dep.clone(), *condition));
            }
        }
        let mut script = Script::new()
            .start_delay(ms(rng.below(300)))
            .passes_after(ms(rng.below(3000)));
        if is_job(i) {
            script = script.exits_after(ms(100 + rng.below(1000)), 0);
        }
        engine.script_service(&name, script);
    }
    let project = Project::new("many", &yaml);
    let options = UpOptions {
        max_parallel: 8,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &options).await;
    assert_eq!(summary.services.len(), 200);
    assert_eq!(engine.calls_of(Op::Running).len(), 200);
    for (service, dep, condition) in edges {
        let dependent = start_of(&engine, &project.container(&service, 1));
        let dep_name = project.container(&dep, 1);
        let held = match condition {
            "service_started" => engine.running_at(&dep_name),
            "service_healthy" => engine.probe_passed_at(&dep_name),
            _ => engine.first(Op::Exited, &dep_name),
        }
        .unwrap();
        assert!(
            dependent >= held,
            "{service} started at {dependent:?}, before {dep} was {condition} at {held:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_up_does_nothing_and_says_so() {
    let project = Project::new(
        "noop",
        &format!(
            "services:
  db: {{image: img, {CHECK}}}
  api: {{image: img, depends_on: {{db: {{condition: service_healthy}}}}}}
  web: {{image: img, depends_on: [api]}}
"
        ),
    );
    let engine = engine();
    run_ok(&engine, &project, &UpOptions::default()).await;
    let before = engine.calls().len();
    let again = engine.now();
    let (result, events) = run(&engine, &project, &UpOptions::default()).await;
    let summary = result.unwrap();
    assert!(summary.is_up_to_date(), "{summary:?}");
    // Nothing starts, so no one waits for db to be healthy: no probe.
    let probes = |since: usize| -> Vec<_> {
        engine.calls()[since..]
            .iter()
            .filter(|c| c.op == Op::Exec)
            .cloned()
            .collect()
    };
    assert!(probes(before).is_empty(), "{:?}", probes(before));
    assert_eq!(engine.now(), again, "a no-op up takes no (virtual) time");
    assert_eq!(
        summary.line(),
        "up to date: 3 services already running as the file says"
    );

    let changes: Vec<_> = engine.calls()[before..]
        .iter()
        .filter(|c| {
            matches!(
                c.op,
                Op::CreateContainer
                    | Op::StartContainer
                    | Op::StopContainer
                    | Op::RemoveContainer
                    | Op::CreateNetwork
                    | Op::CreateVolume
            )
        })
        .cloned()
        .collect();
    assert!(changes.is_empty(), "{changes:?}");
    for service in ["db", "api", "web"] {
        assert!(events.contains(&Event::UpToDate {
            service: service.into()
        }));
    }
    assert!(matches!(events.last(), Some(Event::Done { .. })));

    // With `wait`, the engine not having checked db yet (30 s interval),
    // muster probes the running container at once, not after 100 ms.
    let before_wait = engine.calls().len();
    let wait = UpOptions {
        wait: true,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &wait).await;
    assert!(summary.is_up_to_date(), "{summary:?}");
    let probed = probes(before_wait);
    assert_eq!(probed.len(), 1, "{probed:?}");
    assert_eq!(probed[0].at, again);
}

#[tokio::test(start_paused = true)]
async fn an_env_change_recreates_only_that_service() {
    let yaml = |level: &str| {
        format!(
            "services:
  db: {{image: img}}
  api:
    image: img
    environment: {{LOG_LEVEL: {level}}}
    depends_on: [db]
"
        )
    };
    let project = Project::new("envchange", &yaml("info"));
    let engine = engine();
    run_ok(&engine, &project, &UpOptions::default()).await;
    let before = engine.calls().len();
    project.write(&yaml("debug"));
    let (result, events) = run(&engine, &project, &UpOptions::default()).await;
    let summary = result.unwrap();
    let api = summary.service("api").unwrap();
    assert_eq!(
        (api.recreated, api.changes.as_slice()),
        (1, ["environment".to_owned()].as_slice())
    );
    assert_eq!(summary.service("db").unwrap().unchanged, 1);
    let touched: Vec<String> = engine.calls()[before..]
        .iter()
        .filter(|c| {
            matches!(
                c.op,
                Op::CreateContainer | Op::RemoveContainer | Op::StopContainer
            )
        })
        .map(|c| c.object.clone())
        .collect();
    let api_name = project.container("api", 1);
    assert_eq!(
        touched,
        [api_name.clone(), api_name.clone(), api_name.clone()]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Recreating { service, changes } if service == "api" && changes.fields == ["environment"]
    )));
    let spec = engine.spec_of(&api_name).unwrap();
    assert_eq!(spec.env.get("LOG_LEVEL").map(String::as_str), Some("debug"));

    // --force-recreate recreates everything, and says why.
    let options = UpOptions {
        force_recreate: true,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &options).await;
    assert_eq!(summary.service("db").unwrap().changes, ["--force-recreate"]);
    assert_eq!(summary.service("db").unwrap().recreated, 1);
}

#[tokio::test(start_paused = true)]
async fn scale_creates_and_removes_replicas() {
    let yaml = |scale: u32| {
        format!("services:\n  web: {{image: img, scale: {scale}}}\n  db: {{image: img}}\n")
    };
    let project = Project::new("scale", &yaml(3));
    let engine = engine();
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    let mut names: Vec<String> = engine
        .containers()
        .iter()
        .filter(|c| c.label("com.docker.compose.service") == Some("web"))
        .map(|c| c.name().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [1, 2, 3].map(|n| project.container("web", n)),
        "{summary:?}"
    );
    assert!(
        engine
            .containers()
            .iter()
            .all(|c| c.state == ContainerState::Running)
    );

    project.write(&yaml(1));
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    let web = summary.service("web").unwrap();
    assert_eq!((web.removed, web.unchanged, web.recreated), (2, 1, 0));
    let left: Vec<String> = engine
        .containers()
        .iter()
        .filter(|c| c.label("com.docker.compose.service") == Some("web"))
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(left, [project.container("web", 1)]);
}

#[tokio::test(start_paused = true)]
async fn a_missing_image_names_the_image_and_the_service_and_creates_nothing() {
    let project = Project::new(
        "noimage",
        "services:\n  db: {image: img}\n  api: {image: 'shop/api:dev'}\n",
    );
    let engine = engine();
    let (result, _) = run(&engine, &project, &UpOptions::default()).await;
    let err = result.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("image \"shop/api:dev\" of service \"api\" is not present locally"),
        "{message}"
    );
    assert!(engine.calls_of(Op::CreateContainer).is_empty());
    assert!(engine.network_names().is_empty());
}

#[tokio::test(start_paused = true)]
async fn networks_and_volumes_come_first_and_once() {
    let project = Project::new(
        "objects",
        "services:
  db: {image: img, volumes: [data:/var/lib/db]}
  api: {image: img, networks: [default, back]}
networks:
  back: {}
volumes:
  data: {}
",
    );
    let engine = engine();
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    let mut networks = summary.networks_created.clone();
    networks.sort();
    let name = &project.name;
    assert_eq!(
        networks,
        [format!("{name}_back"), format!("{name}_default")]
    );
    assert_eq!(summary.volumes_created, [format!("{name}_data")]);
    let first_create = engine.calls_of(Op::CreateContainer)[0].at;
    assert!(
        engine
            .calls_of(Op::CreateNetwork)
            .iter()
            .all(|c| c.at <= first_create)
    );
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    assert!(summary.is_up_to_date(), "{summary:?}");
    assert_eq!(engine.calls_of(Op::CreateNetwork).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn orphans_are_named_and_removed_on_request() {
    let project = Project::new(
        "orphans",
        "services:\n  db: {image: img}\n  old: {image: img}\n",
    );
    let engine = engine();
    run_ok(&engine, &project, &UpOptions::default()).await;
    project.write("services:\n  db: {image: img}\n");
    let (result, events) = run(&engine, &project, &UpOptions::default()).await;
    result.unwrap();
    let old = project.container("old", 1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Note { message } if message.contains(&old)))
    );
    let options = UpOptions {
        remove_orphans: true,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &options).await;
    assert_eq!(summary.orphans_removed, [old]);
    assert_eq!(engine.containers().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_start_creates_only() {
    let project = Project::new(
        "nostart",
        "services:\n  db: {image: img}\n  api: {image: img, depends_on: [db]}\n",
    );
    let engine = engine();
    let options = UpOptions {
        no_start: true,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &options).await;
    assert!(engine.calls_of(Op::StartContainer).is_empty());
    assert!(
        engine
            .containers()
            .iter()
            .all(|c| c.state == ContainerState::Created)
    );
    assert_eq!(
        summary.line(),
        "created 2 containers for 2 services (not started)"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_tracks_leaves_and_gives_the_critical_path() {
    let check = "healthcheck: {test: [CMD, ready], interval: 5s}";
    let project = Project::new(
        "chain",
        &format!(
            "services:
  db: {{image: img, {check}}}
  cache: {{image: img, {check}}}
  api:
    image: img
    {check}
    depends_on: {{db: {{condition: service_healthy}}, cache: {{condition: service_healthy}}}}
  web: {{image: img, {check}, depends_on: {{api: {{condition: service_healthy}}}}}}
  worker: {{image: img, depends_on: {{api: {{condition: service_healthy}}}}}}
"
        ),
    );
    let engine = engine();
    engine
        .script_service("db", Script::new().passes_after(ms(2000)))
        .script_service("cache", Script::new().passes_after(ms(1000)))
        .script_service("api", Script::new().passes_after(ms(1000)))
        .script_service("web", Script::new().passes_after(ms(1000)));
    let options = UpOptions {
        wait: true,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &options).await;
    let path: Vec<&str> = summary
        .critical_path
        .iter()
        .map(|s| s.service.as_str())
        .collect();
    assert_eq!(path, ["db", "api", "web"], "{}", summary.line());
    let web = summary.service("web").unwrap();
    assert_eq!(web.ready_means, Some(Requirement::Healthy));
    assert_eq!(web.waited_for.as_deref(), Some("api"));
    let worker = summary.service("worker").unwrap();
    assert_eq!(worker.ready_means, Some(Requirement::Started));
    // Each healthy step costs the app's start-up plus at most one probe
    // pause; the summary says so.
    let line = summary.line();
    assert!(line.starts_with("ready in "), "{line}");
    assert!(
        line.contains(": db 2.") && line.contains(" -> api 1.") && line.contains(" -> web 1."),
        "{line}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_up_waits_for_the_lock_then_refuses() {
    let project = Project::new("locked", "services:\n  db: {image: img}\n");
    let engine = engine();
    let held = ProjectLock::acquire(
        &project.name,
        Duration::ZERO,
        &crate::orchestrator::events::Silent,
    )
    .await
    .unwrap();
    let options = UpOptions {
        lock_timeout: Duration::from_secs(2),
        ..UpOptions::default()
    };
    let (result, events) = run(&engine, &project, &options).await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("another `muster up` of this project is still running"),
        "{message}"
    );
    assert!(
        message.contains(&held.file_path().display().to_string()),
        "{message}"
    );
    assert!(
        matches!(&events[0], Event::Note { message } if message.starts_with("waiting for another"))
    );
    assert!(engine.calls().is_empty());
    drop(held);
    run_ok(&engine, &project, &options).await;
    assert!(!ProjectLock::path(&project.name).exists(), "lock file left");
}

#[tokio::test]
async fn a_waiter_takes_the_lock_when_its_holder_deletes_the_file() {
    use crate::orchestrator::events::Silent;
    let project = format!("lock-handover-{}", std::process::id());
    let held = ProjectLock::acquire(&project, Duration::ZERO, &Silent)
        .await
        .unwrap();
    let waiter = {
        let project = project.clone();
        tokio::spawn(async move {
            ProjectLock::acquire(&project, Duration::from_secs(30), &Silent).await
        })
    };
    tokio::time::sleep(ms(150)).await;
    drop(held);
    let second = waiter.await.unwrap().expect("the waiter takes over");
    // It holds the file the path names: a third taker must wait.
    assert!(ProjectLock::path(&project).exists());
    let third = ProjectLock::acquire(&project, Duration::ZERO, &Silent).await;
    assert!(third.is_err(), "two holders at once");
    drop(second);
    assert!(!ProjectLock::path(&project).exists());
}

#[tokio::test(start_paused = true)]
async fn optional_absent_dependencies_are_noted() {
    let project = Project::new(
        "optional",
        "services:
  api:
    image: img
    depends_on: {metrics: {condition: service_started, required: false}}
  metrics: {image: img, profiles: [obs]}
",
    );
    let engine = engine();
    let (result, events) = run(&engine, &project, &UpOptions::default()).await;
    result.unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Note { message } if message.contains("optional dependency \"metrics\"")
        )),
        "{events:?}"
    );
    assert_eq!(engine.containers().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn probes_in_flight_are_bounded_across_a_wide_stack() {
    let mut yaml = String::from("services:\n  gateway:\n    image: img\n    depends_on:\n");
    let services: Vec<String> = (1..=12).map(|n| format!("svc{n:02}")).collect();
    for name in &services {
        yaml.push_str(&format!("      {name}: {{condition: service_healthy}}\n"));
    }
    for name in &services {
        yaml.push_str(&format!(
            "  {name}:\n    image: img\n    healthcheck: {{test: [CMD, ready], interval: 2s}}\n"
        ));
    }
    let project = Project::new("probe-slots", &yaml);
    let engine = engine();
    let probe = ms(100);
    for name in &services {
        engine.script_service(
            name,
            Script::new().passes_after(ms(2000)).probe_duration(probe),
        );
    }
    run_ok(&engine, &project, &UpOptions::default()).await;

    // Each exec is recorded when it ends and lasted `probe`.
    let mut edges: Vec<(Duration, i32)> = Vec::new();
    for name in &services {
        for end in engine.exec_times(&project.container(name, 1)) {
            edges.push((end - probe, 1));
            edges.push((end, -1));
        }
    }
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    assert_eq!(most, i32::try_from(PROBES_IN_FLIGHT).unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_rebuilt_image_recreates_its_services_only() {
    let project = Project::new(
        "rebuilt",
        "services:
  db: {image: img}
  api: {image: api-img, depends_on: [db]}
",
    );
    let engine = engine();
    engine.add_image("api-img");
    run_ok(&engine, &project, &UpOptions::default()).await;

    engine.rebuild_image("api-img");
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    let api = summary.service("api").unwrap();
    assert_eq!(
        (api.recreated, api.changes.as_slice()),
        (1, ["image id".to_owned()].as_slice())
    );
    assert_eq!(summary.service("db").unwrap().unchanged, 1);

    // The new container was made from the new image: nothing more to do.
    let again = run_ok(&engine, &project, &UpOptions::default()).await;
    assert_eq!(again.service("api").unwrap().unchanged, 1);
}

#[tokio::test(start_paused = true)]
async fn no_recreate_keeps_a_container_of_a_rebuilt_image() {
    let project = Project::new("rebuilt-kept", "services:\n  api: {image: img}\n");
    let engine = engine();
    run_ok(&engine, &project, &UpOptions::default()).await;
    engine.rebuild_image(IMAGE);
    let options = UpOptions {
        no_recreate: true,
        ..UpOptions::default()
    };
    let summary = run_ok(&engine, &project, &options).await;
    assert_eq!(summary.service("api").unwrap().unchanged, 1);
}

mod anonymous_volumes {
    use crate::engine::{ContainerSpec, MountInfo, MountKind, MountSpec};

    use super::super::keep_anonymous_volumes;

    const OLD: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn volume(target: &str, source: Option<&str>) -> MountSpec {
        MountSpec {
            target: target.into(),
            kind: MountKind::Volume {
                source: source.map(str::to_owned),
                no_copy: false,
            },
            read_only: false,
        }
    }

    fn mounted(name: &str, destination: &str) -> MountInfo {
        MountInfo {
            kind: "volume".into(),
            name: Some(name.into()),
            source: format!("/var/lib/docker/volumes/{name}/_data"),
            destination: destination.into(),
            read_write: true,
        }
    }

    fn spec(mounts: Vec<MountSpec>) -> ContainerSpec {
        ContainerSpec {
            mounts,
            ..ContainerSpec::default()
        }
    }

    #[test]
    fn an_anonymous_volume_in_the_file_keeps_the_old_one() {
        let mut new = spec(vec![volume("/data", None)]);
        keep_anonymous_volumes(&mut new, &[mounted(OLD, "/data")], &[]);
        assert_eq!(new.mounts, [volume("/data", Some(OLD))]);
    }

    #[test]
    fn an_image_volume_keeps_the_old_one() {
        let mut new = spec(Vec::new());
        keep_anonymous_volumes(
            &mut new,
            &[mounted(OLD, "/var/lib/db")],
            &["/var/lib/db".into()],
        );
        assert_eq!(new.mounts, [volume("/var/lib/db", Some(OLD))]);
    }

    #[test]
    fn named_volumes_and_paths_no_longer_asked_for_are_not_carried() {
        let mut new = spec(vec![volume("/data", Some("shop_data"))]);
        keep_anonymous_volumes(
            &mut new,
            &[
                mounted(OLD, "/data"),
                mounted(OLD, "/gone"),
                mounted("shop_cache", "/cache"),
            ],
            &[],
        );
        assert_eq!(new.mounts, [volume("/data", Some("shop_data"))]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_recreated_dependency_restarts_only_dependents_that_ask() {
    let yaml = |level: &str| {
        format!(
            "services:
  db: {{image: img, environment: {{LEVEL: {level}}}}}
  api:
    image: img
    depends_on: {{db: {{condition: service_started, restart: true}}}}
  worker:
    image: img
    depends_on: [db]
"
        )
    };
    let project = Project::new("restart-true", &yaml("1"));
    let engine = engine();
    run_ok(&engine, &project, &UpOptions::default()).await;
    let api = project.container("api", 1);
    let worker = project.container("worker", 1);

    project.write(&yaml("2"));
    let before = engine.calls().len();
    let (result, events) = run(&engine, &project, &UpOptions::default()).await;
    let summary = result.unwrap();
    assert_eq!(summary.service("db").unwrap().recreated, 1);
    assert_eq!(summary.service("api").unwrap().restarted, 1);
    assert_eq!(summary.service("worker").unwrap().restarted, 0);

    let after = |op: Op| -> Vec<String> {
        engine.calls()[before..]
            .iter()
            .filter(|c| c.op == op)
            .map(|c| c.object.clone())
            .collect()
    };
    let db = project.container("db", 1);
    assert_eq!(after(Op::StopContainer), [db.clone(), api.clone()]);
    // api came back after the new db started; worker was left alone.
    assert_eq!(after(Op::StartContainer), [db, api]);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Restarting { service, because, .. } if service == "api" && because == &["db".to_owned()]
    )));
    assert!(engine.running_at(&worker).is_some());

    // Nothing changed: nothing restarts.
    let summary = run_ok(&engine, &project, &UpOptions::default()).await;
    assert_eq!(summary.service("api").unwrap().restarted, 0);
}

#[tokio::test(start_paused = true)]
async fn a_service_timeout_bounds_only_that_service() {
    let project = Project::new(
        "svctimeout",
        &format!(
            "services:
  db: {{image: img, {CHECK}}}
  api: {{image: img, depends_on: {{db: {{condition: service_healthy}}}}}}
"
        ),
    );
    let engine = engine();
    engine.script_service("db", Script::new().never_passes());
    let options = UpOptions {
        wait_timeout: Some(Duration::from_secs(60)),
        service_timeouts: [("db".to_owned(), Duration::from_secs(3))].into(),
        ..UpOptions::default()
    };
    let (failure, _) = run_err(&engine, &project, &options).await;
    assert_eq!(failure.failed[0].service, "db");
    assert!(
        failure.failed[0]
            .reason
            .starts_with("was not ready within the wait timeout of 3.0 s"),
        "{}",
        failure.failed[0].reason
    );
    assert_eq!(engine.now(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn probes_wait_for_container_starts_in_flight() {
    let mut yaml = String::from("services:\n");
    let services: Vec<String> = (0..12).map(|n| format!("svc{n:02}")).collect();
    for name in &services {
        yaml.push_str(&format!(
            "  {name}:\n    image: img\n    healthcheck: {{test: [CMD, ready], interval: 2s}}\n"
        ));
    }
    let project = Project::new("starts-first", &yaml);
    let engine = engine();
    for (n, name) in (0u64..).zip(&services) {
        // Starts that end one after another, over 550 ms.
        engine.script_service(
            name,
            Script::new()
                .start_delay(ms(50 * n))
                .passes_after(ms(200))
                .no_engine_checks(),
        );
    }
    let options = UpOptions {
        wait: true,
        ..UpOptions::default()
    };
    run_ok(&engine, &project, &options).await;

    let containers: Vec<String> = services.iter().map(|s| project.container(s, 1)).collect();
    let last_start = containers
        .iter()
        .filter_map(|c| engine.running_at(c))
        .max()
        .unwrap();
    assert_eq!(last_start, ms(550));
    let first_probe = containers
        .iter()
        .flat_map(|c| engine.exec_times(c))
        .min()
        .unwrap();
    assert!(first_probe >= last_start, "a probe ran at {first_probe:?}");
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_stack_is_checked_all_at_once_not_level_by_level() {
    let project = Project::new(
        "unchanged-flat",
        &format!(
            "services:
  db: {{image: img, {CHECK}}}
  api: {{image: img, {CHECK}, depends_on: {{db: {{condition: service_healthy}}}}}}
  web: {{image: img, {CHECK}, depends_on: {{api: {{condition: service_healthy}}}}}}
"
        ),
    );
    let engine = engine();
    for service in ["db", "api", "web"] {
        // Only muster's probes tell health: the engine still says starting.
        engine.script_service(
            service,
            Script::new().no_engine_checks().probe_duration(ms(50)),
        );
    }
    let options = UpOptions {
        wait: true,
        ..UpOptions::default()
    };
    run_ok(&engine, &project, &options).await;
    let before = engine.now();
    let summary = run_ok(&engine, &project, &options).await;
    assert!(summary.is_up_to_date(), "{summary:?}");
    let last_probe = |service: &str| {
        *engine
            .exec_times(&project.container(service, 1))
            .last()
            .unwrap()
    };
    // Each was probed once, at the same moment: no level waited for another.
    assert_eq!(last_probe("db"), before + ms(50));
    assert_eq!(last_probe("api"), before + ms(50));
    assert_eq!(last_probe("web"), before + ms(50));
}

#[tokio::test(start_paused = true)]
async fn a_start_no_one_waits_on_lets_the_others_go_first() {
    let project = Project::new(
        "background-start",
        &format!(
            "services:
  api: {{image: img, {CHECK}}}
  web: {{image: img, {CHECK}, depends_on: {{api: {{condition: service_healthy}}}}}}
  worker: {{image: img, depends_on: {{api: {{condition: service_healthy}}}}}}
"
        ),
    );
    let engine = engine();
    for service in ["api", "web", "worker"] {
        engine.script_service(service, Script::new().start_delay(ms(200)));
    }
    let options = UpOptions {
        wait: true,
        ..UpOptions::default()
    };
    run_ok(&engine, &project, &options).await;
    let web = project.container("web", 1);
    let worker = project.container("worker", 1);
    let web_running = engine.running_at(&web).unwrap();
    // web (healthchecked: someone may wait on it) started first; worker
    // (only ever "started") asked the engine once web's start was done.
    assert_eq!(web_running, start_of(&engine, &web) + ms(200));
    assert_eq!(start_of(&engine, &worker), web_running);
}
