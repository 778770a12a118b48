//! The merging and following logic on the fake engine, in virtual time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::engine::ContainerSpec;
use crate::engine::fake::{FakeEngine, Script};

const PROJECT: &str = "shop";

fn spec(service: &str, number: u32) -> ContainerSpec {
    let labels = BTreeMap::from([
        (labels::PROJECT.to_owned(), PROJECT.to_owned()),
        (labels::SERVICE.to_owned(), service.to_owned()),
        (labels::CONTAINER_NUMBER.to_owned(), number.to_string()),
        (labels::ONEOFF.to_owned(), "False".to_owned()),
    ]);
    ContainerSpec {
        name: format!("{PROJECT}-{service}-{number}"),
        image: "img".into(),
        labels,
        ..ContainerSpec::default()
    }
}

async fn run(engine: &FakeEngine, service: &str, number: u32) -> String {
    let id = engine
        .create_container(&spec(service, number))
        .await
        .unwrap();
    engine.start_container(&id).await.unwrap();
    id
}

fn fake() -> FakeEngine {
    let engine = FakeEngine::new();
    engine.add_image("img");
    engine
}

/// Everything `logs` yields, as text: `api-1 | line`, `+ api-1` when a
/// container is attached, `api-1 exited with code N` at its exit.
async fn collect(engine: &FakeEngine, options: LogsOptions) -> Vec<String> {
    let engine: Arc<dyn Engine> = Arc::new(engine.clone());
    let mut logs = logs(engine, PROJECT, options);
    let mut out = Vec::new();
    while let Some(event) = logs.next().await {
        out.push(match event.expect("no error") {
            LogEvent::Attached(s) => format!("+ {}", s.prefix()),
            LogEvent::Line(l) => format!("{} | {}", l.source.prefix(), l.text),
            LogEvent::Exited { source, exit_code } => {
                format!("{} exited with code {exit_code}", source.prefix())
            }
        });
    }
    out
}

fn lines_of<'a>(out: &'a [String], prefix: &str) -> Vec<&'a str> {
    out.iter()
        .filter_map(|l| l.strip_prefix(prefix)?.strip_prefix(" | "))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_service_and_replica_is_read_in_order_each() {
    let engine = fake();
    engine.script_service("api", Script::new().logs(["a1", "a2", "a3"]));
    engine.script_service("db", Script::new().logs(["d1", "d2"]));
    run(&engine, "db", 1).await;
    run(&engine, "api", 2).await;
    run(&engine, "api", 1).await;

    let out = collect(&engine, LogsOptions::default()).await;
    // Attached first, sorted by service and replica, so widths are known.
    assert_eq!(out[..3], ["+ api-1", "+ api-2", "+ db-1"]);
    assert_eq!(lines_of(&out, "api-1"), ["a1", "a2", "a3"]);
    assert_eq!(lines_of(&out, "api-2"), ["a1", "a2", "a3"]);
    assert_eq!(lines_of(&out, "db-1"), ["d1", "d2"]);
    assert_eq!(out.len(), 3 + 8);
}

#[tokio::test(start_paused = true)]
async fn services_index_and_tail_select() {
    let engine = fake();
    engine.script_service("api", Script::new().logs(["a1", "a2", "a3"]));
    engine.script_service("db", Script::new().logs(["d1"]));
    run(&engine, "db", 1).await;
    run(&engine, "api", 1).await;
    run(&engine, "api", 2).await;

    let out = collect(
        &engine,
        LogsOptions {
            services: vec!["api".into()],
            index: Some(2),
            tail: Some(2),
            ..LogsOptions::default()
        },
    )
    .await;
    assert_eq!(out, ["+ api-2", "api-2 | a2", "api-2 | a3"]);
}

#[tokio::test(start_paused = true)]
async fn one_off_containers_and_other_projects_are_not_shown() {
    let engine = fake();
    engine.script_default(Script::new().logs(["hello"]));
    let mut oneoff = spec("api", 1);
    oneoff.name = "shop-api-run-1".into();
    oneoff.labels.insert(labels::ONEOFF.into(), "True".into());
    let id = engine.create_container(&oneoff).await.unwrap();
    engine.start_container(&id).await.unwrap();
    let mut other = spec("api", 1);
    other.name = "other-api-1".into();
    other.labels.insert(labels::PROJECT.into(), "other".into());
    let id = engine.create_container(&other).await.unwrap();
    engine.start_container(&id).await.unwrap();

    assert_eq!(collect(&engine, LogsOptions::default()).await, [""; 0]);
}

#[tokio::test(start_paused = true)]
async fn follow_tells_each_exit_and_ends_when_all_stopped() {
    let engine = fake();
    engine.script_service(
        "migrate",
        Script::new()
            .logs(["migrating", "done"])
            .exits_after(Duration::from_secs(1), 0),
    );
    engine.script_service(
        "worker",
        Script::new()
            .logs(["working"])
            .exits_after(Duration::from_secs(3), 3),
    );
    run(&engine, "migrate", 1).await;
    run(&engine, "worker", 1).await;

    let options = LogsOptions {
        follow: true,
        ..LogsOptions::default()
    };
    let out = collect(&engine, options).await;
    assert_eq!(lines_of(&out, "migrate-1"), ["migrating", "done"]);
    assert_eq!(lines_of(&out, "worker-1"), ["working"]);
    let exits: Vec<&String> = out.iter().filter(|l| l.contains("exited")).collect();
    assert_eq!(
        exits,
        [
            "migrate-1 exited with code 0",
            "worker-1 exited with code 3"
        ]
    );
    // Each exit after its container's last line.
    let last_line = out.iter().position(|l| l == "worker-1 | working");
    let exit = out.iter().position(|l| l == "worker-1 exited with code 3");
    assert!(last_line < exit, "{out:#?}");
}

#[tokio::test(start_paused = true)]
async fn follow_picks_up_a_replica_that_starts_later() {
    let engine = fake();
    engine.script_service(
        "api",
        Script::new()
            .logs(["listening"])
            .exits_after(Duration::from_secs(5), 0),
    );
    run(&engine, "api", 1).await;
    let later = engine.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        run(&later, "api", 2).await;
    });

    let options = LogsOptions {
        follow: true,
        ..LogsOptions::default()
    };
    let out = collect(&engine, options).await;
    assert!(out.contains(&"+ api-2".to_owned()), "{out:#?}");
    assert_eq!(lines_of(&out, "api-2"), ["listening"]);
    assert!(
        out.contains(&"api-2 exited with code 0".to_owned()),
        "{out:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn follow_with_a_service_filter_ignores_other_services_that_start() {
    let engine = fake();
    engine.script_default(
        Script::new()
            .logs(["hi"])
            .exits_after(Duration::from_secs(2), 0),
    );
    run(&engine, "api", 1).await;
    let later = engine.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        run(&later, "db", 1).await;
    });
    let options = LogsOptions {
        follow: true,
        services: vec!["api".into()],
        ..LogsOptions::default()
    };
    let out = collect(&engine, options).await;
    assert_eq!(out, ["+ api-1", "api-1 | hi", "api-1 exited with code 0"]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_logs_stops_following() {
    let engine = fake();
    engine.script_default(Script::new().logs(["forever"]));
    run(&engine, "api", 1).await;
    let shared: Arc<dyn Engine> = Arc::new(engine.clone());
    let mut logs = logs(
        shared,
        PROJECT,
        LogsOptions {
            follow: true,
            ..LogsOptions::default()
        },
    );
    assert!(matches!(logs.next().await, Some(Ok(LogEvent::Attached(_)))));
    assert!(matches!(logs.next().await, Some(Ok(LogEvent::Line(_)))));
    drop(logs);
    // Nothing left running: the runtime can go idle.
    tokio::time::sleep(Duration::from_secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_container_created_but_not_started_is_read_once_it_starts() {
    let engine = fake();
    engine.script_default(
        Script::new()
            .logs(["first words"])
            .exits_after(Duration::from_secs(1), 0),
    );
    let id = engine.create_container(&spec("api", 1)).await.unwrap();
    let later = engine.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        later.start_container(&id).await.unwrap();
    });
    let options = LogsOptions {
        follow: true,
        ..LogsOptions::default()
    };
    assert_eq!(
        collect(&engine, options).await,
        ["+ api-1", "api-1 | first words", "api-1 exited with code 0"]
    );
}
