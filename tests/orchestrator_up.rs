//! `up` against the real engine: what the engine really does with the
//! containers, networks and healthchecks muster asks for, which the
//! scripted fake cannot tell (the scheduler itself is tested on the fake,
//! in `src/orchestrator/up/tests.rs`).
//!
//! Each test's project is named after its scope and every object carries
//! the scope label, so the scope's guard removes it all when the test
//! ends. Without an engine the tests skip with a note, unless `CI` is set.

#[path = "support/engine.rs"]
mod engine_support;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use engine_support::{SCOPE_LABEL, TEST_IMAGE, TestScope, scope};
use muster::engine::{
    ContainerDetails, ContainerState, DockerEngine, Engine, ExecSpec, LabelFilter, Protocol,
};
use muster::model::{LoadedProject, ProjectOptions, load};
use muster::orchestrator::error::OrchestratorError;
use muster::orchestrator::events::{Collect, Reporter};
use muster::orchestrator::up::{UpFailure, UpOptions, UpSummary, up};

/// A compose project for one test: `body` is the `services:` mapping, in
/// which `@` stands for the settings every service gets (the test image,
/// the scope label, a quick stop).
struct Project {
    dir: tempfile::TempDir,
    scope: String,
}

impl Project {
    fn new(scope: &TestScope, body: &str) -> Self {
        let project = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            scope: scope.scope.clone(),
        };
        project.write(body);
        project
    }

    fn write(&self, body: &str) {
        let common = format!(
            "image: {TEST_IMAGE}\n    init: true\n    stop_grace_period: 1s\n    \
             labels: {{{SCOPE_LABEL}: {}}}",
            self.scope
        );
        let yaml = format!(
            "services:\n{}\nnetworks:\n  default:\n    labels: {{{SCOPE_LABEL}: {}}}\n",
            body.replace('@', &common),
            self.scope
        );
        std::fs::write(self.dir.path().join("compose.yaml"), yaml).expect("write compose.yaml");
    }

    fn load(&self) -> LoadedProject {
        let options = ProjectOptions {
            project_name: Some(self.scope.clone()),
            ..ProjectOptions::in_dir(self.dir.path())
        };
        load(&options).unwrap_or_else(|e| panic!("{e}"))
    }

    fn container(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.scope)
    }
}

async fn bring_up(
    scope: &TestScope,
    project: &Project,
    options: &UpOptions,
) -> Result<UpSummary, OrchestratorError> {
    let engine: Arc<dyn Engine> = Arc::new(scope.engine.clone());
    let reporter: Arc<dyn Reporter> = Arc::new(Collect::default());
    up(engine, &project.load(), options, reporter).await
}

async fn up_ok(scope: &TestScope, project: &Project, options: &UpOptions) -> UpSummary {
    bring_up(scope, project, options)
        .await
        .unwrap_or_else(|e| panic!("up failed: {e}"))
}

async fn up_err(scope: &TestScope, project: &Project) -> UpFailure {
    match bring_up(scope, project, &UpOptions::default()).await {
        Err(OrchestratorError::UpFailed(failure)) => *failure,
        Err(e) => panic!("up failed otherwise: {e}"),
        Ok(summary) => panic!("up succeeded: {}", summary.line()),
    }
}

async fn inspect(engine: &DockerEngine, name: &str) -> ContainerDetails {
    engine
        .inspect_container(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn ids(engine: &DockerEngine, project: &Project) -> Vec<(String, String)> {
    let filter = [LabelFilter::equals(
        "com.docker.compose.project",
        &project.scope,
    )];
    let mut out: Vec<(String, String)> = engine
        .list_containers(&filter)
        .await
        .expect("list")
        .into_iter()
        .map(|c| (c.name().to_owned(), c.id))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_service_starts_only_after_its_dependency_is_healthy() {
    let Some(scope) = scope("up_healthy_gate").await else {
        return;
    };
    // The engine's first check would come after 30 s: only muster's own
    // probe can make db healthy within the test.
    let project = Project::new(
        &scope,
        "  db:
    @
    command: [sh, -c, 'sleep 1; touch /tmp/ready; exec sleep 3600']
    healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 30s}
  api:
    @
    command: [sleep, '3600']
    depends_on: {db: {condition: service_healthy}}
",
    );
    let summary = up_ok(&scope, &project, &UpOptions::default()).await;
    let db = inspect(&scope.engine, &project.container("db", 1)).await;
    let api = inspect(&scope.engine, &project.container("api", 1)).await;
    let db_started = db.status.started_at.expect("db started");
    let api_started = api.status.started_at.expect("api started");
    let gap = api_started
        .duration_since(db_started)
        .unwrap_or_else(|_| panic!("api started before db: {db:?} {api:?}"));
    assert!(
        gap >= Duration::from_secs(1),
        "api started {gap:?} after db, before db was ready"
    );
    // The engine has not run a check yet: the readiness was muster's.
    let health = db.status.health.expect("db has a healthcheck");
    assert!(health.log.is_empty(), "{health:?}");
    let path: Vec<&str> = summary
        .critical_path
        .iter()
        .map(|s| s.service.as_str())
        .collect();
    assert_eq!(path, ["db", "api"], "{}", summary.line());
}

#[tokio::test]
async fn a_failing_migration_blocks_its_dependents_and_shows_its_logs() {
    let Some(scope) = scope("up_failing_migration").await else {
        return;
    };
    let project = Project::new(
        &scope,
        "  migrate:
    @
    command: [sh, -c, 'echo applying 0001_init; echo error: relation users already exists >&2; exit 3']
  api:
    @
    command: [sleep, '3600']
    depends_on: {migrate: {condition: service_completed_successfully}}
  web:
    @
    command: [sleep, '3600']
    depends_on: [api]
",
    );
    let failure = up_err(&scope, &project).await;
    let report = failure.to_string();
    for needle in [
        "service \"migrate\" failed: exited with code 3",
        "| applying 0001_init",
        "| error: relation users already exists",
        "api: dependency \"migrate\" exited with code 3",
        "web: dependency \"api\" was not started",
    ] {
        assert!(report.contains(needle), "{needle:?} not in:\n{report}");
    }
    let api = inspect(&scope.engine, &project.container("api", 1)).await;
    assert_eq!(
        api.status.state,
        ContainerState::Created,
        "api must not start"
    );
}

#[tokio::test]
async fn a_dependency_that_crashes_during_the_wait_fails_fast() {
    let Some(scope) = scope("up_crash_fast").await else {
        return;
    };
    let project = Project::new(
        &scope,
        "  db:
    @
    command: [sh, -c, 'echo starting; sleep 1; echo giving up; exit 7']
    healthcheck: {test: [CMD, 'false'], interval: 30s}
  api:
    @
    command: [sleep, '3600']
    depends_on: {db: {condition: service_healthy}}
",
    );
    let failure = up_err(&scope, &project).await;
    let report = failure.to_string();
    assert!(report.contains("exited with code 7"), "{report}");
    assert!(report.contains("| giving up"), "{report}");
    assert!(
        report.contains("last healthcheck runs by muster"),
        "{report}"
    );
    assert_eq!(failure.not_started[0].service, "api");
}

#[tokio::test]
async fn services_reach_each_other_by_name_and_published_ports_answer() {
    let Some(scope) = scope("up_network").await else {
        return;
    };
    let project = Project::new(
        &scope,
        "  srv:
    @
    command: [nc, -ll, -p, '8080', -e, echo, hello]
    ports: ['127.0.0.1:0:8080']
    healthcheck: {test: [CMD-SHELL, 'nc 127.0.0.1 8080 | grep -q hello'], interval: 30s}
  client:
    @
    command: [sleep, '3600']
    depends_on: {srv: {condition: service_healthy}}
",
    );
    up_ok(&scope, &project, &UpOptions::default()).await;
    let probe = ExecSpec {
        cmd: vec!["nc".into(), "srv".into(), "8080".into()],
        timeout: Some(Duration::from_secs(10)),
        ..ExecSpec::default()
    };
    let out = scope
        .engine
        .exec(&project.container("client", 1), &probe)
        .await
        .expect("exec");
    assert_eq!(
        (out.exit_code, out.output.trim()),
        (Some(0), "hello"),
        "{out:?}"
    );

    let srv = inspect(&scope.engine, &project.container("srv", 1)).await;
    let (ip, port) = srv
        .published_port(8080, Protocol::Tcp)
        .unwrap_or_else(|| panic!("8080 not published: {:?}", srv.ports));
    assert_eq!(ip, "127.0.0.1");
    assert_ne!(port, 0);
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok::<_, std::io::Error>(text)
    })
    .await
    .expect("join")
    .expect("connect to the published port");
    assert_eq!(answer.trim(), "hello");
}

#[tokio::test]
async fn a_second_up_recreates_nothing_and_an_env_change_only_its_service() {
    let Some(scope) = scope("up_converge").await else {
        return;
    };
    let body = |level: &str| {
        format!(
            "  db:
    @
    command: [sleep, '3600']
  api:
    @
    command: [sleep, '3600']
    environment: {{LOG_LEVEL: {level}}}
    depends_on: [db]
"
        )
    };
    let project = Project::new(&scope, &body("info"));
    up_ok(&scope, &project, &UpOptions::default()).await;
    let first = ids(&scope.engine, &project).await;
    assert_eq!(first.len(), 2);

    let summary = up_ok(&scope, &project, &UpOptions::default()).await;
    assert!(summary.is_up_to_date(), "{summary:?}");
    assert_eq!(ids(&scope.engine, &project).await, first);

    project.write(&body("debug"));
    let summary = up_ok(&scope, &project, &UpOptions::default()).await;
    assert_eq!(summary.service("api").unwrap().changes, ["environment"]);
    let second = ids(&scope.engine, &project).await;
    assert_eq!(second[1], first[1], "db must stay: {first:?} {second:?}");
    assert_ne!(second[0], first[0], "api must be recreated");
    let api = inspect(&scope.engine, &project.container("api", 1)).await;
    assert!(
        api.env.contains(&"LOG_LEVEL=debug".to_owned()),
        "{:?}",
        api.env
    );
    assert!(api.status.running);
}

#[tokio::test]
async fn scale_runs_three_replicas_and_scales_back() {
    let Some(scope) = scope("up_scale").await else {
        return;
    };
    let body = |n: u32| format!("  web:\n    @\n    command: [sleep, '3600']\n    scale: {n}\n");
    let project = Project::new(&scope, &body(3));
    up_ok(&scope, &project, &UpOptions::default()).await;
    let names: Vec<String> = ids(&scope.engine, &project)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, [1, 2, 3].map(|n| project.container("web", n)));
    for name in &names {
        assert!(inspect(&scope.engine, name).await.status.running, "{name}");
    }
    project.write(&body(1));
    let summary = up_ok(&scope, &project, &UpOptions::default()).await;
    assert_eq!(summary.service("web").unwrap().removed, 2);
    let names: Vec<String> = ids(&scope.engine, &project)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, [project.container("web", 1)]);
}
