//! The harness on the scripted [`FakeEngine`]: naming, labels, endpoints,
//! teardown on drop from either runtime flavour, teardown after a failed
//! `up`.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::fake::{FakeEngine, Script};
use crate::engine::{Engine, Protocol};

use super::owner::labels;
use super::{Compose, Endpoint, HarnessError, base36, unique_name};

const IMAGE: &str = "img";

fn project(yaml: &str) -> (tempfile::TempDir, Compose, Arc<FakeEngine>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write compose.yaml");
    let engine = Arc::new(FakeEngine::new());
    engine.add_image(IMAGE);
    engine.script_service("db", Script::new().passes_after(Duration::from_millis(30)));
    engine.script_service(
        "migrate-db",
        Script::new().exits_after(Duration::from_millis(20), 0),
    );
    let compose = Compose::file(dir.path().join("compose.yaml"))
        .engine(Arc::clone(&engine) as Arc<dyn Engine>)
        .prune_abandoned(false)
        .timeout(Duration::from_secs(20));
    (dir, compose, engine)
}

const WEB: &str = "services:
  db:
    image: img
    ports: ['5432']
    healthcheck: {test: [CMD, ready], interval: 1s}
  migrate-db:
    image: img
    depends_on: {db: {condition: service_healthy}}
  web:
    image: img
    ports: ['127.0.0.1::80', '53/udp']
    depends_on: {migrate-db: {condition: service_completed_successfully}}
";

#[test]
fn names_are_unique_and_valid_project_names() {
    let a = unique_name("shop");
    let b = unique_name("shop");
    assert_ne!(a, b);
    let pid = std::process::id();
    assert!(a.starts_with(&format!("shop-t{pid}-")), "{a}");
    let long = unique_name("a-very-long-project-name-indeed-longer-than-most");
    assert!(long.len() < 50, "{long}");
    for name in [a, b, long] {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
        crate::model::discover::check_project_name(&name, "test").expect("valid");
    }
    assert_eq!(base36(0, 3), "000");
    assert_eq!(base36(46_655, 3), "zzz");
}

#[test]
fn endpoint_variables_are_shell_names() {
    let endpoint = |service: &str, port, protocol| Endpoint {
        service: service.into(),
        port,
        protocol,
        address: "127.0.0.1:1".parse().expect("address"),
    };
    assert_eq!(
        endpoint("db", 5432, Protocol::Tcp).variable(),
        "MUSTER_DB_5432"
    );
    assert_eq!(
        endpoint("my-api.v2", 80, Protocol::Tcp).variable(),
        "MUSTER_MY_API_V2_80"
    );
    assert_eq!(
        endpoint("dns", 53, Protocol::Udp).variable(),
        "MUSTER_DNS_53_UDP"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_stack_is_ready_labelled_and_gone_when_dropped_on_a_current_thread_runtime() {
    let (_dir, compose, engine) = project(WEB);
    let stack = compose.up().await.expect("up");
    let name = stack.project_name().to_owned();
    assert!(
        name.contains(&format!("-t{}-", std::process::id())),
        "{name}"
    );
    assert_eq!(stack.services(), ["db", "migrate-db", "web"]);

    let containers = engine.containers();
    assert_eq!(containers.len(), 3);
    for c in &containers {
        assert_eq!(c.label(labels::HARNESS), Some("1"), "{c:?}");
        let pid = std::process::id().to_string();
        assert_eq!(c.label(labels::PID), Some(pid.as_str()));
        assert!(c.label(labels::CREATED).is_some());
    }

    let db = stack.endpoint("db", 5432).expect("db endpoint");
    assert!(db.ip().is_loopback(), "{db}");
    assert_ne!(db.port(), 0);
    let web = stack.endpoint("web", 80).expect("web endpoint");
    assert!(web.ip().is_loopback());
    let err = stack.endpoint("web", 8080).expect_err("not published");
    assert!(
        err.to_string()
            .contains("does not publish port 8080/tcp on the host (it publishes 80/tcp, 53/udp)"),
        "{err}"
    );
    let err = stack.endpoint("wbe", 80).expect_err("no such service");
    assert!(err.to_string().contains("did you mean \"web\""), "{err}");
    let variables: Vec<String> = stack.endpoints().iter().map(Endpoint::variable).collect();
    assert_eq!(
        variables,
        ["MUSTER_DB_5432", "MUSTER_WEB_53_UDP", "MUSTER_WEB_80"]
    );
    assert!(stack.container_id("web").is_ok());

    // Dropping blocks this (only) runtime thread while another thread
    // tears down: it must not deadlock.
    drop(stack);
    assert!(engine.containers().is_empty(), "{:?}", engine.containers());
    assert!(engine.network_names().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_dropped_while_a_test_panics_is_torn_down() {
    let (_dir, compose, engine) = project(WEB);
    let stack = compose.up().await.expect("up");
    let panicked = tokio::task::spawn(async move {
        let _stack = stack;
        panic!("the test failed");
    })
    .await;
    assert!(panicked.is_err());
    assert!(engine.containers().is_empty(), "{:?}", engine.containers());
}

#[test]
fn a_stack_dropped_outside_any_runtime_is_torn_down() {
    let (_dir, compose, engine) = project(WEB);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stack = runtime.block_on(compose.up()).expect("up");
    drop(runtime);
    assert_eq!(engine.containers().len(), 3);
    drop(stack);
    assert!(engine.containers().is_empty());
}

#[tokio::test]
async fn a_failed_up_is_torn_down_and_says_why() {
    let (_dir, compose, engine) = project(WEB);
    engine.script_service(
        "migrate-db",
        Script::new()
            .logs(["applying 0001", "error: relation exists"])
            .exits_after(Duration::from_millis(10), 3),
    );
    let err = compose.up().await.expect_err("migration fails");
    let failure = err.up_failure().expect("an up failure");
    assert_eq!(failure.failed[0].service, "migrate-db");
    let message = err.to_string();
    assert!(message.contains("exited with code 3"), "{message}");
    assert!(message.contains("| error: relation exists"), "{message}");
    assert!(engine.containers().is_empty(), "{:?}", engine.containers());
}

#[tokio::test]
async fn down_answers_what_it_removed_and_keep_leaves_the_stack() {
    let (_dir, compose, engine) = project(WEB);
    let stack = compose.clone().up().await.expect("up");
    let summary = stack.down().await.expect("down");
    assert_eq!(summary.containers.len(), 3);
    assert!(engine.containers().is_empty());

    let stack = compose.keep(true).up().await.expect("up");
    let name = stack.project_name().to_owned();
    drop(stack);
    let left = engine.containers();
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|c| c.label(labels::KEEP) == Some("1")));
    assert!(left.iter().all(|c| c.name().starts_with(&name)));
}

#[tokio::test]
async fn exec_stop_and_start_act_on_the_service() {
    let (_dir, compose, engine) = project(WEB);
    let stack = compose.up().await.expect("up");
    let out = stack.exec("db", ["ready"]).await.expect("exec");
    assert_eq!(out.exit_code, Some(0));
    stack.stop("web").await.expect("stop");
    assert!(matches!(
        stack.endpoint("web", 80),
        Err(HarnessError::NoEndpoint { .. } | HarnessError::NotRunning { .. })
    ));
    stack.restart("db").await.expect("restart");
    stack.start("web").await.expect("start");
    assert!(stack.endpoint("web", 80).is_ok());
    drop(stack);
    assert!(engine.containers().is_empty());
}

#[test]
fn files_env_profiles_and_services_are_read_as_compose_reads_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, yaml: &str| {
        std::fs::write(dir.path().join(name), yaml).expect("write");
    };
    write(
        "compose.yaml",
        "services:
  db: {image: 'img:${TAG:-1}'}
  debug: {image: img, profiles: [debug]}
",
    );
    write("ci.yaml", "services:\n  db: {environment: {CI: 'yes'}}\n");
    let compose = Compose::file(dir.path().join("compose.yaml"))
        .with_file(dir.path().join("ci.yaml"))
        .env("TAG", "2")
        .profile("debug")
        .project_name("fixed");
    let loaded = compose.load().expect("load");
    assert_eq!(loaded.name, "fixed");
    let db = &loaded.project.services["db"];
    assert_eq!(db.image.as_deref(), Some("img:2"));
    assert_eq!(
        db.environment.get("CI").and_then(|v| v.as_deref()),
        Some("yes")
    );
    assert_eq!(loaded.profiles, ["debug"]);
    assert_eq!(
        db.labels.get(labels::HARNESS).map(String::as_str),
        Some("1")
    );
}

#[tokio::test]
async fn only_the_selected_services_and_their_dependencies_come_up() {
    let (_dir, compose, engine) = project(WEB);
    let stack = compose.service("migrate-db").up().await.expect("up");
    assert_eq!(stack.services(), ["db", "migrate-db"]);
    let mut names: Vec<String> = engine
        .containers()
        .iter()
        .map(|c| {
            c.label("com.docker.compose.service")
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["db", "migrate-db"]);
}

#[test]
fn handles_move_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    fn sendable<T: Send>(_: &T) {}
    shareable::<super::Stack>();
    shareable::<Compose>();
    let up = Compose::file("compose.yaml").up();
    sendable(&up);
}

#[tokio::test]
async fn a_job_named_in_completes_is_waited_for_and_its_failure_reported() {
    let yaml = "services:\n  seed: {image: img}\n  app: {image: img}\n";
    let (_dir, compose, engine) = project(yaml);
    engine.script_service(
        "seed",
        Script::new().exits_after(Duration::from_millis(300), 0),
    );
    let stack = compose.clone().completes("seed").up().await.expect("up");
    let seed = engine
        .containers()
        .into_iter()
        .find(|c| c.label("com.docker.compose.service") == Some("seed"))
        .expect("seed");
    assert_eq!(
        seed.state,
        crate::engine::ContainerState::Exited,
        "waited for"
    );
    drop(stack);

    engine.script_service(
        "seed",
        Script::new()
            .logs(["seeding", "error: no such table"])
            .exits_after(Duration::from_millis(50), 2),
    );
    let err = compose
        .completes("seed")
        .up()
        .await
        .expect_err("seed fails");
    let message = err.to_string();
    assert!(
        message.starts_with("service \"seed\" is not ready"),
        "{message}"
    );
    assert!(message.contains("exited with code 2"), "{message}");
    assert!(message.contains("| error: no such table"), "{message}");
    assert!(engine.containers().is_empty(), "{:?}", engine.containers());
}
