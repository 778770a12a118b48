//! `muster::harness` used the way another project's integration tests use
//! it: a compose file, one call to bring it up, endpoints, exec, logs, and
//! nothing left on the engine afterwards, whatever happens.
//!
//! Every service also carries the test's scope label, so the scope guard
//! sweeps up if the harness itself ever leaked; the tests check the engine
//! by the compose project label *before* that guard runs.

#[path = "support/engine.rs"]
mod engine_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use engine_support::{SCOPE_LABEL, TEST_IMAGE, TestScope, scope};
use muster::engine::{DockerEngine, Engine, LabelFilter};
use muster::harness::{Compose, HarnessError, Stack};

const PROJECT_LABEL: &str = "com.docker.compose.project";

/// An `httpd` serving `hello from <NAME>` on port 80, healthy once it
/// answers.
fn httpd(name: &str) -> String {
    format!(
        "    command: [sh, -c, 'mkdir -p /www; echo hello from {name} > /www/index.html; exec httpd -f -p 80 -h /www']
    ports: ['80']
    healthcheck:
      test: [CMD-SHELL, 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 1 127.0.0.1 80 | grep -q hello']
      interval: 1s
      start_interval: 100ms
      start_period: 10s
"
    )
}

/// A compose project in a temp dir. `@` in `services` stands for what every
/// service gets: the test image, `init`, and the scope label.
struct Project {
    dir: tempfile::TempDir,
    scope: TestScope,
}

impl Project {
    fn new(scope: TestScope, services: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("muster-harness-")
            .tempdir()
            .expect("temp dir");
        let common = format!(
            "image: {TEST_IMAGE}\n    init: true\n    labels: {{{SCOPE_LABEL}: {}}}",
            scope.scope
        );
        let yaml = format!("services:\n{}", services.replace('@', &common));
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write compose.yaml");
        Self { dir, scope }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("compose.yaml")
    }

    fn compose(&self) -> Compose {
        Compose::file(self.file()).timeout(Duration::from_secs(60))
    }
}

/// Containers and networks of a project, as the engine lists them.
async fn left_on_engine(engine: &DockerEngine, project: &str) -> (usize, usize) {
    let filter = [LabelFilter::equals(PROJECT_LABEL, project)];
    let containers = engine.list_containers(&filter).await.expect("list");
    let networks = engine.list_networks(&filter).await.expect("list");
    (containers.len(), networks.len())
}

fn http_get(address: SocketAddr) -> String {
    engine_support::http_get(address, "/")
}

#[tokio::test]
async fn an_endpoint_answers_over_tcp() {
    let Some(scope) = scope("harness_endpoint").await else {
        return;
    };
    let project = Project::new(scope, &format!("  web:\n    @\n{}", httpd("web")));
    let stack = project.compose().up().await.expect("up");
    let web = stack.endpoint("web", 80).expect("web publishes 80");
    assert!(web.ip().is_loopback(), "{web}");
    let answer = http_get(web);
    assert!(answer.contains("hello from web"), "{answer}");
    let name = stack.project_name().to_owned();
    let summary = stack.down().await.expect("down");
    assert_eq!(summary.containers, [format!("{name}-web-1")]);
    assert_eq!(left_on_engine(&project.scope.engine, &name).await, (0, 0));
}

#[tokio::test]
async fn two_tests_bringing_up_one_file_do_not_collide() {
    let Some(scope) = scope("harness_parallel").await else {
        return;
    };
    let project = Project::new(scope, &format!("  web:\n    @\n{}", httpd("web")));
    let (a, b) = tokio::join!(project.compose().up(), project.compose().up());
    let (a, b) = (a.expect("first up"), b.expect("second up"));
    assert_ne!(a.project_name(), b.project_name());
    assert_ne!(a.container_id("web").ok(), b.container_id("web").ok());
    let (ea, eb) = (
        a.endpoint("web", 80).expect("a"),
        b.endpoint("web", 80).expect("b"),
    );
    assert_ne!(ea, eb);
    assert!(http_get(ea).contains("hello from web"));
    assert!(http_get(eb).contains("hello from web"));
    let names = [a.project_name().to_owned(), b.project_name().to_owned()];
    drop(a);
    // One gone, the other still serves.
    assert!(http_get(eb).contains("hello from web"));
    drop(b);
    for name in names {
        assert_eq!(left_on_engine(&project.scope.engine, &name).await, (0, 0));
    }
}

#[tokio::test]
async fn exec_returns_output_and_exit_code_and_logs_read_back() {
    let Some(scope) = scope("harness_exec").await else {
        return;
    };
    let project = Project::new(
        scope,
        "  db:\n    @\n    command: [sh, -c, 'echo db booting; echo to stderr >&2; exec sleep 600']\n",
    );
    let stack = project.compose().up().await.expect("up");
    let out = stack
        .exec("db", ["sh", "-c", "echo from inside; exit 7"])
        .await
        .expect("exec");
    assert_eq!(out.exit_code, Some(7));
    assert_eq!(out.output, "from inside\n");
    let ok = stack.exec("db", ["true"]).await.expect("exec");
    assert!(ok.success());
    let logs = stack.logs("db").await.expect("logs");
    assert!(
        logs.contains("db booting") && logs.contains("to stderr"),
        "{logs}"
    );
    let err = stack
        .exec("bd", ["true"])
        .await
        .expect_err("no such service");
    assert!(err.to_string().contains("did you mean \"db\""), "{err}");
}

#[tokio::test]
async fn a_one_shot_migration_is_waited_for() {
    let Some(scope) = scope("harness_migrate").await else {
        return;
    };
    let project = Project::new(
        scope,
        "  migrate:
    @
    command: [sh, -c, 'sleep 1; echo v1 > /data/schema; echo migrated']
    volumes: ['data:/data']
  app:
    @
    command: [sh, -c, 'exec sleep 600']
    volumes: ['data:/data']
    depends_on: {migrate: {condition: service_completed_successfully}}
  seed:
    @
    command: [sh, -c, 'sleep 1; echo rows > /data/seeded']
    volumes: ['data:/data']
volumes:
  data: {}
",
    );
    // `seed` has no dependents: `completes` makes the harness wait for it.
    let stack = project.compose().completes("seed").up().await.expect("up");
    let seeded = stack
        .exec("app", ["cat", "/data/seeded"])
        .await
        .expect("exec");
    assert_eq!(seeded.output, "rows\n", "seed finished before up returned");
    let out = stack
        .exec("app", ["cat", "/data/schema"])
        .await
        .expect("exec");
    assert_eq!(out.output, "v1\n", "the migration ran before app started");
    let migrate = stack.summary().service("migrate").expect("migrate");
    let app = stack.summary().service("app").expect("app");
    assert!(migrate.ready_at.is_some() && app.ready_at.is_some());
    assert!(
        stack
            .logs("migrate")
            .await
            .expect("logs")
            .contains("migrated")
    );
    // `down -v`: the named volume goes too.
    let summary = stack.down().await.expect("down");
    assert_eq!(summary.volumes.len(), 1, "{summary:?}");
}

#[tokio::test]
async fn a_failing_healthcheck_gives_an_error_with_the_forensics() {
    let Some(scope) = scope("harness_unhealthy").await else {
        return;
    };
    let project = Project::new(
        scope,
        "  db:
    @
    command: [sh, -c, 'echo db cannot open its data dir; exec sleep 600']
    healthcheck:
      test: [CMD-SHELL, 'echo probe says no; exit 1']
      interval: 200ms
      timeout: 1s
      retries: 2
  api:
    @
    command: [sleep, '600']
    depends_on: {db: {condition: service_healthy}}
",
    );
    let err = project
        .compose()
        .up()
        .await
        .expect_err("db never turns healthy");
    let failure = err.up_failure().expect("an up failure");
    assert_eq!(failure.failed[0].service, "db");
    assert_eq!(failure.not_started[0].service, "api");
    let message = err.to_string();
    assert!(message.contains("probe says no"), "{message}");
    assert!(
        message.contains("| db cannot open its data dir"),
        "{message}"
    );
    let left = project
        .scope
        .engine
        .list_containers(&project.scope.filter())
        .await
        .expect("list");
    assert!(left.is_empty(), "a failed up is torn down: {left:?}");
}

#[tokio::test]
async fn a_panicking_test_leaves_no_containers() {
    let Some(scope) = scope("harness_panic").await else {
        return;
    };
    let project = Project::new(scope, "  worker:\n    @\n    command: [sleep, '600']\n");
    let file = project.file();
    // A test of its own, on its own current-thread runtime, that panics
    // while it holds the stack.
    let (tx, rx) = std::sync::mpsc::channel();
    let test = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let stack = Compose::file(file).up().await.expect("up");
            tx.send(stack.project_name().to_owned()).expect("send");
            assert_eq!(1 + 1, 3, "the test under test fails");
            drop(stack);
        });
    });
    assert!(test.join().is_err(), "the inner test panicked");
    let name = rx.recv().expect("the stack came up");
    assert_eq!(left_on_engine(&project.scope.engine, &name).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_start_and_restart_a_service() {
    let Some(scope) = scope("harness_restart").await else {
        return;
    };
    let project = Project::new(scope, &format!("  web:\n    @\n{}", httpd("web")));
    let stack: Stack = project.compose().up().await.expect("up");
    stack.stop("web").await.expect("stop");
    assert!(matches!(
        stack.endpoint("web", 80),
        Err(HarnessError::NotRunning { .. })
    ));
    stack.start("web").await.expect("start");
    // Started again means healthy again: it answers at once.
    let web = stack.endpoint("web", 80).expect("endpoint");
    assert!(http_get(web).contains("hello from web"));
    stack.restart("web").await.expect("restart");
    let web = stack.endpoint("web", 80).expect("endpoint");
    assert!(http_get(web).contains("hello from web"));
}
