//! `muster up`, `ps` and `down` as a user runs them: the real binary against
//! the real Docker engine, on small busybox stacks.
//!
//! Each test's project is named after its scope (`-p`), and every object
//! the file declares carries the scope label. A [`Stack`] guard runs
//! `muster down -v -t 0` when the test ends (even by panicking), then
//! sweeps whatever still carries the compose project label; the scope's
//! own guard then removes anything left with the scope label. Without an
//! engine the tests skip with a note, unless `CI` is set.

mod common;
#[path = "support/engine.rs"]
mod engine_support;
#[path = "support/images.rs"]
mod images;
#[path = "support/stack.rs"]
mod stack_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use engine_support::{SCOPE_LABEL, TEST_IMAGE, scope};
use muster::engine::{ContainerState, Engine, LabelFilter};
use stack_support::{PROJECT_LABEL, Stack, drain, wait_bounded};

/// An `httpd` serving `hi` on 8080, published on a port the engine picks,
/// healthy once it answers.
const HTTPD: &str = "
    command: [sh, -c, 'mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p 8080 -h /www']
    ports: ['127.0.0.1::8080']
    healthcheck:
      test: [CMD-SHELL, 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 1 127.0.0.1 8080 | grep -q hi']
      interval: 1s
      timeout: 1s
      retries: 30
      start_interval: 100ms";

/// The host port in a `ps` Ports cell such as `127.0.0.1:49153->8080/tcp`.
fn host_port(ports: &str) -> u16 {
    let (host, container) = ports
        .split_once("->")
        .unwrap_or_else(|| panic!("no published port in {ports:?}"));
    assert_eq!(container, "8080/tcp", "{ports}");
    let port = host
        .strip_prefix("127.0.0.1:")
        .unwrap_or_else(|| panic!("not published on 127.0.0.1: {ports:?}"));
    port.parse().unwrap_or_else(|e| panic!("{ports:?}: {e}"))
}

/// What an HTTP GET of / on 127.0.0.1:`port` answers.
fn http_get(port: u16) -> String {
    engine_support::http_get(std::net::SocketAddr::from(([127, 0, 0, 1], port)), "/")
}

#[tokio::test]
async fn up_serves_on_published_ports_and_down_removes_everything() {
    let Some(scope) = scope("cli_up_ps_down").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        &format!("  web:\n    @{HTTPD}\n  admin:\n    @{HTTPD}\n"),
    );

    stack.muster(&["up", "-d", "--wait"]).success();

    let rows = stack.ps(false);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for service in ["web", "admin"] {
        let row = Stack::row(&rows, service);
        assert_eq!(row["State"], "running", "{row:#}");
        assert_eq!(
            row["Name"],
            format!("{}-{service}-1", stack.name),
            "{row:#}"
        );
        let port = host_port(row["Ports"].as_str().expect("Ports is a string"));
        let answer = http_get(port);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{service}: {answer}");
        assert!(answer.ends_with("hi\n"), "{service}: {answer}");
    }

    stack.muster(&["down", "-t", "0"]).success();
    assert!(stack.containers().await.is_empty(), "containers remain");
    let filter = [LabelFilter::equals(PROJECT_LABEL, &stack.name)];
    let networks = stack.engine().list_networks(&filter).await.expect("list");
    assert!(networks.is_empty(), "networks remain: {networks:?}");
    assert_eq!(stack.ps(true), Vec::<serde_json::Value>::new());
}

#[tokio::test]
async fn a_failed_migration_stops_up_and_says_why() {
    let Some(scope) = scope("cli_failed_migration").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  migrate:
    @
    command: [sh, -c, 'echo migration failed: no table; exit 3']
  api:
    @
    command: [sleep, '600']
    depends_on: {migrate: {condition: service_completed_successfully}}
",
    );

    let out = stack.muster(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    for expected in [
        "migrate",
        "exited with code 3",
        "migration failed: no table",
    ] {
        assert!(
            out.stderr.contains(expected),
            "no {expected:?} in:\n{out:?}"
        );
    }
    // The summary lists api under "not started:".
    let (_, not_started) = out
        .stderr
        .split_once("\nnot started:\n")
        .unwrap_or_else(|| panic!("no \"not started:\" section in:\n{out:?}"));
    assert!(
        not_started
            .lines()
            .any(|l| l.trim_start().starts_with("api:")),
        "api not named as not started in:\n{out:?}"
    );

    let rows = stack.ps(true);
    let api = rows.iter().find(|r| r["Service"] == "api");
    assert!(
        api.is_none_or(|r| r["State"] != "running"),
        "api runs: {rows:#?}"
    );
}

#[tokio::test]
async fn attached_up_streams_output_and_stops_on_ctrl_c() {
    let Some(scope) = scope("cli_attached").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  web:
    @
    command: [sh, -c, 'echo hello-from-web; exec sleep 600']
",
    );

    let mut child = stack
        .test(&["up", "--progress", "plain"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn muster up");
    let stderr = drain(child.stderr.take().expect("stderr"));
    let (seen_tx, seen_rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stdout = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut text = String::new();
        let mut seen = false;
        for line in lines.by_ref().take(1000) {
            let Ok(line) = line else { break };
            text.push_str(&line);
            text.push('\n');
            if line.ends_with("hello-from-web") {
                seen = true;
                break;
            }
        }
        let _ = seen_tx.send(seen);
        for line in lines.map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    let seen = seen_rx.recv().unwrap_or(false);
    if !seen {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "no hello line; stdout:\n{}\nstderr:\n{}",
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default()
        );
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT failed");
    let code = wait_bounded(&mut child);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    assert_eq!(code, Some(130), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("stopping the stack"), "{stderr}");
    assert!(
        stdout.lines().any(|l| l == "web-1 | hello-from-web"),
        "no prefixed hello line in:\n{stdout}"
    );

    let rows = stack.ps(true);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(Stack::row(&rows, "web")["State"], "exited", "{rows:#?}");
    let containers = stack.containers().await;
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_eq!(containers[0].state, ContainerState::Exited);
}

#[tokio::test]
async fn up_again_changes_nothing_and_recreates_only_what_changed() {
    let Some(scope) = scope("cli_up_again").await else {
        return;
    };
    let body = |greeting: &str| {
        format!(
            "  web:
    @
    command: [sleep, '600']
    environment: {{GREETING: {greeting}}}
  db:
    @
    command: [sleep, '600']
"
        )
    };
    let stack = Stack::new(scope, &body("hello"));

    stack.muster(&["up", "-d"]).success();
    let (web, db) = (stack.id("web"), stack.id("db"));

    let again = stack.muster(&["up", "-d"]).success();
    assert!(again.stderr.contains("up to date"), "{again:?}");
    assert!(!again.stderr.contains("recreat"), "{again:?}");
    assert_eq!((stack.id("web"), stack.id("db")), (web.clone(), db.clone()));

    stack.write(&body("bonjour"));
    let changed = stack.muster(&["up", "-d"]).success();
    assert!(
        changed
            .stderr
            .lines()
            .any(|l| l.contains("web") && l.contains("environment")),
        "{changed:?}"
    );
    assert!(!changed.stderr.contains("db: recreat"), "{changed:?}");
    assert_ne!(stack.id("web"), web, "web kept its container:\n{changed:?}");
    assert_eq!(stack.id("db"), db, "db was recreated:\n{changed:?}");
}

#[tokio::test]
async fn named_volume_data_survives_down_and_up() {
    let Some(scope) = scope("cli_volume").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  keeper:
    @
    command: [sh, -c, 'echo found $$(cat /data/x 2>/dev/null || echo none); echo written > /data/x; echo ready; exec sleep 600']
    volumes: ['data:/data']
",
    );
    let container = format!("{}-keeper-1", stack.name);

    stack.muster(&["up", "-d"]).success();
    let first = stack.logs_with(&container, "ready").await;
    assert!(first.contains("found none"), "{first}");

    stack.muster(&["down", "-t", "0"]).success();
    assert!(stack.containers().await.is_empty(), "containers remain");
    let volumes = stack
        .engine()
        .list_volumes(&[LabelFilter::equals(PROJECT_LABEL, &stack.name)])
        .await
        .expect("list volumes");
    assert_eq!(volumes.len(), 1, "{volumes:?}");

    stack.muster(&["up", "-d"]).success();
    let second = stack.logs_with(&container, "ready").await;
    assert!(second.contains("found written"), "{second}");
}

#[tokio::test]
async fn down_keeps_orphans_unless_asked() {
    let Some(scope) = scope("cli_orphans").await else {
        return;
    };
    let web = "  web:\n    @\n    command: [sleep, '600']\n";
    let stack = Stack::new(
        scope,
        &format!("{web}  worker:\n    @\n    command: [sleep, '600']\n"),
    );
    stack.muster(&["up", "-d"]).success();
    let worker = stack.id("worker");

    stack.write(web);
    let down = stack.muster(&["down", "-t", "0"]).success();
    let orphan = format!("{}-worker-1", stack.name);
    assert!(
        down.stderr
            .lines()
            .any(|l| l.contains("orphan") && l.contains(&orphan)),
        "{down:?}"
    );
    let left: Vec<String> = stack.containers().await.into_iter().map(|c| c.id).collect();
    assert_eq!(left, [worker], "{down:?}");

    let down = stack
        .muster(&["down", "-t", "0", "--remove-orphans"])
        .success();
    assert!(stack.containers().await.is_empty(), "{down:?}");
    let filter = [LabelFilter::equals(PROJECT_LABEL, &stack.name)];
    let networks = stack.engine().list_networks(&filter).await.expect("list");
    assert!(
        networks.is_empty(),
        "networks remain: {networks:?}\n{down:?}"
    );
}

#[tokio::test]
async fn anonymous_volume_data_survives_recreation_unless_renewed() {
    let Some(scope) = scope("cli_anon_volume").await else {
        return;
    };
    let body = |greeting: &str| {
        format!(
            "  keeper:
    @
    command: [sh, -c, 'echo found $$(cat /data/x 2>/dev/null || echo none); echo written > /data/x; echo ready; exec sleep 600']
    environment: {{GREETING: {greeting}}}
    volumes: ['/data']
"
        )
    };
    let stack = Stack::new(scope, &body("hello"));
    let container = format!("{}-keeper-1", stack.name);

    stack.muster(&["up", "-d"]).success();
    let first = stack.logs_with(&container, "ready").await;
    assert!(first.contains("found none"), "{first}");

    stack.write(&body("bonjour"));
    let recreated = stack.muster(&["up", "-d"]).success();
    assert!(recreated.stderr.contains("environment"), "{recreated:?}");
    let second = stack.logs_with(&container, "ready").await;
    assert!(second.contains("found written"), "{second}\n{recreated:?}");

    let engine = stack.engine();
    let volumes_of = |id: String| async move {
        let details = engine.inspect_container(&id).await.expect("inspect");
        details
            .mounts
            .into_iter()
            .filter_map(|m| m.name)
            .collect::<Vec<_>>()
    };
    let kept = volumes_of(stack.id("keeper")).await;
    assert_eq!(kept.len(), 1, "{kept:?}");

    stack.write(&body("hola"));
    stack.muster(&["up", "-d", "-V"]).success();
    let renewed = stack.logs_with(&container, "ready").await;
    assert!(renewed.contains("found none"), "{renewed}");
    let fresh = volumes_of(stack.id("keeper")).await;

    // Neither the renewed volume nor the fresh one outlives `down -v`
    // (the carried one is mounted by name: the engine alone would keep it).
    stack.muster(&["down", "-v", "-t", "0"]).success();
    for volume in kept.iter().chain(&fresh) {
        let removed = engine.remove_volume(volume, false).await;
        assert!(
            removed.as_ref().is_err_and(|e| e.is_not_found()),
            "volume {volume} was left: {removed:?}"
        );
    }
}

#[tokio::test]
async fn up_recreates_a_service_whose_image_was_rebuilt() {
    let Some(scope) = scope("cli_rebuilt").await else {
        return;
    };
    let image = format!("{}-img:1", scope.scope);
    let images = images::Images::new();
    images.track(&image);
    let (repo, tag) = image.split_once(':').expect("tagged");
    let client = scope.engine.client();
    client
        .tag_image(
            TEST_IMAGE,
            Some(bollard::query_parameters::TagImageOptions {
                repo: Some(repo.to_owned()),
                tag: Some(tag.to_owned()),
            }),
        )
        .await
        .expect("tag the test image");
    // `@` holds the test image: name the rebuilt one instead.
    let app = format!(
        "  app:\n    image: {image}\n    init: true\n    stop_grace_period: 1s\n    \
         labels: {{{SCOPE_LABEL}: {}}}\n    command: [sleep, '600']\n",
        scope.scope
    );
    let stack = Stack::new(
        scope,
        &format!("{app}  db:\n    @\n    command: [sleep, '600']\n"),
    );
    stack.muster(&["up", "-d"]).success();
    let (app, db) = (stack.id("app"), stack.id("db"));

    // A "rebuild": the same reference now names a new image.
    stack
        .engine()
        .client()
        .commit_container(
            bollard::query_parameters::CommitContainerOptions {
                container: Some(app.clone()),
                repo: Some(repo.to_owned()),
                tag: Some(tag.to_owned()),
                ..Default::default()
            },
            bollard::models::ContainerConfig::default(),
        )
        .await
        .expect("commit");

    let again = stack.muster(&["up", "-d"]).success();
    assert!(
        again
            .stderr
            .lines()
            .any(|l| l.contains("app") && l.contains("image id changed")),
        "{again:?}"
    );
    assert_ne!(stack.id("app"), app, "{again:?}");
    assert_eq!(stack.id("db"), db, "{again:?}");
}

#[tokio::test]
async fn a_recreated_dependency_restarts_dependents_with_restart_true() {
    let Some(scope) = scope("cli_restart_true").await else {
        return;
    };
    let body = |level: &str| {
        format!(
            "  db:
    @
    command: [sleep, '600']
    environment: {{LEVEL: {level}}}
  api:
    @
    command: [sleep, '600']
    depends_on: {{db: {{condition: service_started, restart: true}}}}
  worker:
    @
    command: [sleep, '600']
    depends_on: [db]
"
        )
    };
    let stack = Stack::new(scope, &body("1"));
    stack.muster(&["up", "-d"]).success();
    let engine = stack.engine();
    let started_at = |id: String| async move {
        engine
            .inspect_container(&id)
            .await
            .expect("inspect")
            .status
            .started_at
    };
    let (api, worker) = (stack.id("api"), stack.id("worker"));
    let (api_first, worker_first) = (
        started_at(api.clone()).await,
        started_at(worker.clone()).await,
    );

    stack.write(&body("2"));
    let up = stack.muster(&["up", "-d"]).success();
    assert!(
        up.stderr
            .lines()
            .any(|l| l.contains("api") && l.contains("restarting") && l.contains("db")),
        "{up:?}"
    );
    assert_eq!(
        (stack.id("api"), stack.id("worker")),
        (api.clone(), worker.clone())
    );
    assert_ne!(
        started_at(api).await,
        api_first,
        "api was not restarted:\n{up:?}"
    );
    assert_eq!(
        started_at(worker).await,
        worker_first,
        "worker was restarted:\n{up:?}"
    );
}

#[tokio::test]
async fn a_dependency_turning_unhealthy_fails_up_with_its_probe_output() {
    let Some(scope) = scope("cli_unhealthy").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  db:
    @
    command: [sh, -c, 'echo db booting; exec sleep 600']
    healthcheck:
      test: [CMD-SHELL, 'echo no socket yet; exit 1']
      interval: 200ms
      timeout: 1s
      retries: 2
  api:
    @
    command: [sleep, '600']
    depends_on: {db: {condition: service_healthy}}
",
    );
    let out = stack.muster(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    for expected in ["db", "unhealthy", "no socket yet", "db booting"] {
        assert!(
            out.stderr.contains(expected),
            "no {expected:?} in:\n{out:?}"
        );
    }
    assert!(out.stderr.contains("\nnot started:\n"), "{out:?}");
}

#[tokio::test]
async fn wait_timeout_gives_up_on_a_service_that_never_gets_ready() {
    let Some(scope) = scope("cli_wait_timeout").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  slow:
    @
    command: [sleep, '600']
    healthcheck:
      test: [CMD, test, -f, /tmp/never]
      interval: 10s
      retries: 100
",
    );
    let out = stack.muster(&["up", "--wait", "--wait-timeout", "1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("slow"), "{out:?}");
    assert!(
        out.stderr.contains("within the wait timeout of 1.0 s"),
        "{out:?}"
    );
}
