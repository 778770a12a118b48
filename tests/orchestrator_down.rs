//! `down`, `ps` and the desired state against the real engine.
//!
//! Each test writes a compose file into a temp dir, brings the project up
//! "by hand" (the spec functions plus the `Engine` trait, so these tests do
//! not depend on `up`), and then checks what `down` and `ps` do with it.
//! Every test has its own project name (its scope) and labels every object
//! with the scope, so the scope's guard removes whatever a failing test
//! leaves. Without an engine they skip with a note, unless `CI` is set.

#[path = "support/engine.rs"]
mod engine_support;

use std::path::Path;
use std::time::Duration;

use engine_support::{SCOPE_LABEL, TEST_IMAGE, TestScope, scope};
use muster::engine::{Engine, ExecSpec, NetworkSpec};
use muster::model::{LoadedProject, ProjectOptions, load};
use muster::orchestrator::down::{DownOptions, down};
use muster::orchestrator::error::OrchestratorError;
use muster::orchestrator::events::{Collect, Event, ObjectKind};
use muster::orchestrator::ps::{PsOptions, ps};
use muster::orchestrator::spec::{self, labels};

/// `compose` with `SCOPE` and `IMAGE` filled in, written to `dir` and
/// loaded as project `t.scope`.
fn write_and_load(t: &TestScope, dir: &Path, compose: &str) -> LoadedProject {
    let text = compose
        .replace("SCOPE", &t.scope)
        .replace("IMAGE", TEST_IMAGE);
    std::fs::write(dir.join("compose.yaml"), text).unwrap();
    let options = ProjectOptions {
        project_name: Some(t.scope.clone()),
        ..ProjectOptions::in_dir(dir)
    };
    load(&options).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Creates the project's networks and volumes and starts every service's
/// containers in dependency order, through the spec functions.
async fn up_by_hand(engine: &dyn Engine, project: &LoadedProject) {
    let selected = project.select(&[]).unwrap();
    for network in spec::networks(project, &selected.order) {
        if !network.external {
            engine.create_network(&network.spec).await.unwrap();
        }
    }
    for volume in spec::volumes(project, &selected.order) {
        if !volume.external {
            engine.create_volume(&volume.spec).await.unwrap();
        }
    }
    for service in &selected.order {
        for number in 1..=project.project.services[service].replicas() {
            let container = spec::container_spec(project, service, number).unwrap();
            engine.create_container(&container).await.unwrap();
            engine.start_container(&container.name).await.unwrap();
        }
    }
}

async fn containers_of(engine: &dyn Engine, project: &str) -> Vec<String> {
    let mut names: Vec<String> = engine
        .list_containers(&[spec::project_filter(project)])
        .await
        .unwrap()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    names.sort();
    names
}

async fn networks_of(engine: &dyn Engine, project: &str) -> Vec<String> {
    engine
        .list_networks(&[spec::project_filter(project)])
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
}

async fn volumes_of(engine: &dyn Engine, project: &str) -> Vec<String> {
    engine
        .list_volumes(&[spec::project_filter(project)])
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

/// The position of the first event that matches.
fn position(events: &[Event], wanted: impl Fn(&Event) -> bool) -> usize {
    events
        .iter()
        .position(wanted)
        .unwrap_or_else(|| panic!("no such event in {events:#?}"))
}

fn stopping(name: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Stopping { kind: ObjectKind::Container, name: n } if n == name)
}

fn stopped(name: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Stopped { kind: ObjectKind::Container, name: n } if n == name)
}

fn notes(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Note { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Sends a plain HTTP GET to `127.0.0.1:port` and returns the answer.
async fn http_get(port: u16) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut answer))
        .await
        .ok()?
        .ok()?;
    (!answer.is_empty()).then_some(answer)
}

/// A database with a named volume and an API in front of it, published on
/// a free port of 127.0.0.1. Both stop at once on SIGTERM (init).
const SHOP: &str = r#"
services:
  db:
    image: IMAGE
    init: true
    command: [sh, -c, "mkdir -p /www && echo db > /www/index.html && exec httpd -f -p 5432 -h /www"]
    volumes: [data:/data]
    labels: {dev.muster.test.scope: SCOPE}
  api:
    image: IMAGE
    init: true
    command: [sh, -c, "mkdir -p /www && echo hello-from-api > /www/index.html && exec httpd -f -p 8080 -h /www"]
    depends_on: [db]
    ports: ["127.0.0.1::8080"]
    labels: {dev.muster.test.scope: SCOPE}
networks:
  default:
    labels: {dev.muster.test.scope: SCOPE}
volumes:
  data:
    labels: {dev.muster.test.scope: SCOPE}
"#;

#[tokio::test]
async fn down_removes_containers_and_networks_but_keeps_volumes_until_asked() {
    let Some(t) = scope("down-keeps-volumes").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = write_and_load(&t, dir.path(), SHOP);
    let (e, name) = (&t.engine, t.scope.as_str());
    up_by_hand(e, &project).await;
    let (api, db) = (format!("{name}-api-1"), format!("{name}-db-1"));
    assert_eq!(containers_of(e, name).await, [api.clone(), db.clone()]);
    assert_eq!(networks_of(e, name).await, [format!("{name}_default")]);

    let reporter = Collect::default();
    let summary = down(e, name, Some(&project), &DownOptions::default(), &reporter)
        .await
        .unwrap();
    assert_eq!(summary.containers, [api.clone(), db.clone()]);
    assert_eq!(summary.networks, [format!("{name}_default")]);
    assert!(summary.volumes.is_empty() && summary.orphans.is_empty());
    assert!(containers_of(e, name).await.is_empty());
    assert!(networks_of(e, name).await.is_empty());
    assert_eq!(volumes_of(e, name).await, [format!("{name}_data")]);

    // The API stops before the database it depends on starts stopping.
    let events = reporter.events();
    assert!(position(&events, stopped(&api)) < position(&events, stopping(&db)));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Removed { kind: ObjectKind::Network, name: n } if *n == format!("{name}_default")
    )));

    // `down -v` on what is left: the volume goes.
    let options = DownOptions {
        remove_volumes: true,
        ..DownOptions::default()
    };
    let summary = down(e, name, Some(&project), &options, &Collect::default())
        .await
        .unwrap();
    assert_eq!(summary.volumes, [format!("{name}_data")]);
    assert!(volumes_of(e, name).await.is_empty());
}

#[tokio::test]
async fn ps_lists_rows_with_ports_and_services_reach_each_other_by_name() {
    let Some(t) = scope("ps-rows").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = write_and_load(&t, dir.path(), SHOP);
    let (e, name) = (&t.engine, t.scope.as_str());
    up_by_hand(e, &project).await;

    let rows = ps(e, name, &PsOptions::default()).await.unwrap();
    let services: Vec<(&str, u32)> = rows
        .iter()
        .map(|r| (r.service.as_str(), r.number))
        .collect();
    assert_eq!(services, [("api", 1), ("db", 1)]);
    let api = &rows[0];
    assert_eq!(api.name, format!("{name}-api-1"));
    assert!(api.status.starts_with("Up"), "{}", api.status);
    assert!(api.created.is_some() && api.exit_code.is_none());
    let ports = api.ports_text();
    let host_port: u16 = ports
        .strip_prefix("127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("->8080/tcp"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{ports}"));
    let mut answer = None;
    for _ in 0..40 {
        answer = http_get(host_port).await;
        if answer.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = answer.expect("the API answers on its published port");
    assert!(answer.contains("hello-from-api"), "{answer}");
    assert_eq!(rows[1].ports_text(), "");

    // The API reaches the database by its service name on the project
    // network (busybox nc: wget segfaults in this image).
    let probe = ExecSpec {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "nc -w 2 db 5432 </dev/null && nc -w 2 ".to_owned() + name + "-db-1 5432 </dev/null",
        ],
        timeout: Some(Duration::from_secs(10)),
        ..ExecSpec::default()
    };
    let out = e.exec(&api.name, &probe).await.unwrap();
    assert!(out.success(), "{out:?}");

    // A stopped container shows only with `all`, with its exit code.
    e.stop_container(&rows[1].name, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    let running = ps(e, name, &PsOptions::default()).await.unwrap();
    assert_eq!(running.len(), 1);
    let all = ps(
        e,
        name,
        &PsOptions {
            all: true,
            services: vec!["db".into()],
        },
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].exit_code.is_some(), "{:?}", all[0]);
}

#[tokio::test]
async fn down_without_a_file_finds_everything_by_label() {
    let Some(t) = scope("down-no-file").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = write_and_load(&t, dir.path(), SHOP);
    let (e, name) = (&t.engine, t.scope.as_str());
    up_by_hand(e, &project).await;

    let reporter = Collect::default();
    let options = DownOptions {
        remove_volumes: true,
        ..DownOptions::default()
    };
    let summary = down(e, name, None, &options, &reporter).await.unwrap();
    assert_eq!(summary.containers.len(), 2);
    assert!(containers_of(e, name).await.is_empty());
    assert!(networks_of(e, name).await.is_empty());
    assert!(volumes_of(e, name).await.is_empty());
    // The order comes from the containers' depends_on labels.
    let events = reporter.events();
    assert!(
        position(&events, stopped(&format!("{name}-api-1")))
            < position(&events, stopping(&format!("{name}-db-1")))
    );
}

#[tokio::test]
async fn orphans_are_kept_without_the_flag_and_removed_with_it() {
    let Some(t) = scope("down-orphans").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let two = r"
services:
  app: {image: IMAGE, init: true, command: [sleep, '600'], labels: {dev.muster.test.scope: SCOPE}}
  old: {image: IMAGE, init: true, command: [sleep, '600'], labels: {dev.muster.test.scope: SCOPE}}
networks:
  default: {labels: {dev.muster.test.scope: SCOPE}}
";
    let project = write_and_load(&t, dir.path(), two);
    let (e, name) = (&t.engine, t.scope.as_str());
    up_by_hand(e, &project).await;
    // `old` is gone from the file.
    let one = two
        .lines()
        .filter(|l| !l.trim_start().starts_with("old:"))
        .collect::<Vec<_>>()
        .join("\n");
    let project = write_and_load(&t, dir.path(), &one);

    let reporter = Collect::default();
    let summary = down(e, name, Some(&project), &DownOptions::default(), &reporter)
        .await
        .unwrap();
    let old = format!("{name}-old-1");
    assert_eq!(summary.containers, [format!("{name}-app-1")]);
    assert_eq!(summary.orphans, std::slice::from_ref(&old));
    assert!(summary.networks.is_empty(), "the orphan still uses it");
    assert_eq!(containers_of(e, name).await, std::slice::from_ref(&old));
    let notes = notes(&reporter.events());
    assert!(
        notes
            .iter()
            .any(|n| n.contains("1 orphan container") && n.contains("--remove-orphans")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("still in use")),
        "{notes:?}"
    );

    let options = DownOptions {
        remove_orphans: true,
        timeout: Some(Duration::from_secs(1)),
        ..DownOptions::default()
    };
    let summary = down(e, name, Some(&project), &options, &Collect::default())
        .await
        .unwrap();
    assert_eq!(summary.containers, [old]);
    assert_eq!(summary.networks, [format!("{name}_default")]);
    assert!(containers_of(e, name).await.is_empty());
    assert!(networks_of(e, name).await.is_empty());
}

#[tokio::test]
async fn external_networks_are_left_alone() {
    let Some(t) = scope("down-external").await else {
        return;
    };
    let e = &t.engine;
    let outside = t.name("outside");
    e.create_network(&NetworkSpec {
        name: outside.clone(),
        labels: t.labels(),
        ..NetworkSpec::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let compose = format!(
        r"
services:
  app: {{image: IMAGE, init: true, command: [sleep, '600'], networks: [outside], labels: {{dev.muster.test.scope: SCOPE}}}}
networks:
  outside: {{external: true, name: {outside}}}
"
    );
    let project = write_and_load(&t, dir.path(), &compose);
    let name = t.scope.as_str();
    let plans = spec::networks(&project, &["app".to_owned()]);
    assert!(plans.len() == 1 && plans[0].external, "{plans:?}");
    up_by_hand(e, &project).await;

    let summary = down(
        e,
        name,
        Some(&project),
        &DownOptions::default(),
        &Collect::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary.containers, [format!("{name}-app-1")]);
    assert!(summary.networks.is_empty());
    let left: Vec<String> = e
        .list_networks(&t.filter())
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(left, [outside]);
}

#[tokio::test]
async fn down_of_a_service_takes_its_dependents_and_leaves_the_rest() {
    let Some(t) = scope("down-service").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let compose = r"
services:
  db: {image: IMAGE, init: true, command: [sleep, '600'], labels: {dev.muster.test.scope: SCOPE}}
  api: {image: IMAGE, init: true, command: [sleep, '600'], depends_on: [db], labels: {dev.muster.test.scope: SCOPE}}
  cache: {image: IMAGE, init: true, command: [sleep, '600'], labels: {dev.muster.test.scope: SCOPE}}
networks:
  default: {labels: {dev.muster.test.scope: SCOPE}}
";
    let project = write_and_load(&t, dir.path(), compose);
    let (e, name) = (&t.engine, t.scope.as_str());
    up_by_hand(e, &project).await;

    let options = DownOptions {
        services: vec!["db".into()],
        ..DownOptions::default()
    };
    let summary = down(e, name, Some(&project), &options, &Collect::default())
        .await
        .unwrap();
    assert_eq!(
        summary.containers,
        [format!("{name}-api-1"), format!("{name}-db-1")]
    );
    assert!(summary.networks.is_empty(), "cache still uses the network");
    assert_eq!(containers_of(e, name).await, [format!("{name}-cache-1")]);

    let options = DownOptions {
        services: vec!["dbb".into()],
        ..DownOptions::default()
    };
    let err = down(e, name, Some(&project), &options, &Collect::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OrchestratorError::NoSuchService { suggestion: Some(s), .. } if s == "db"),
        "{err}"
    );
}

#[tokio::test]
async fn down_stops_in_parallel_wherever_the_graph_allows() {
    let Some(t) = scope("down-parallel").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // No init: `sleep` is PID 1 and ignores SIGTERM, so every stop takes
    // the whole timeout. web -> api is a chain of two; worker is alone.
    let compose = r"
services:
  api: {image: IMAGE, command: [sleep, '600'], labels: {dev.muster.test.scope: SCOPE}}
  web: {image: IMAGE, command: [sleep, '600'], depends_on: [api], labels: {dev.muster.test.scope: SCOPE}}
  worker: {image: IMAGE, command: [sleep, '600'], scale: 2, labels: {dev.muster.test.scope: SCOPE}}
networks:
  default: {labels: {dev.muster.test.scope: SCOPE}}
";
    let project = write_and_load(&t, dir.path(), compose);
    let (e, name) = (&t.engine, t.scope.as_str());
    up_by_hand(e, &project).await;

    let reporter = Collect::default();
    let options = DownOptions {
        timeout: Some(Duration::from_secs(1)),
        ..DownOptions::default()
    };
    let summary = down(e, name, Some(&project), &options, &reporter)
        .await
        .unwrap();
    assert_eq!(summary.containers.len(), 4);
    // Two stops in a row (web, then api), the workers beside them: the
    // events show the workers stopping while web does (the time it takes,
    // about 2 s rather than 4, belongs in a benchmark, not here).
    let events = reporter.events();
    let web_stopped = position(&events, stopped(&format!("{name}-web-1")));
    assert!(position(&events, stopping(&format!("{name}-worker-1"))) < web_stopped);
    assert!(position(&events, stopping(&format!("{name}-worker-2"))) < web_stopped);
    assert!(web_stopped < position(&events, stopping(&format!("{name}-api-1"))));
}

#[tokio::test]
async fn created_containers_carry_the_spec() {
    let Some(t) = scope("spec-on-engine").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let compose = r"
services:
  app:
    image: IMAGE
    init: true
    command: [sleep, '600']
    environment: {GREETING: hello}
    working_dir: /tmp
    stop_grace_period: 2s
    tmpfs: [/scratch]
    healthcheck: {test: 'true', interval: 1s}
    labels: {dev.muster.test.scope: SCOPE}
networks:
  default: {labels: {dev.muster.test.scope: SCOPE}}
";
    let project = write_and_load(&t, dir.path(), compose);
    let (e, name) = (&t.engine, t.scope.as_str());
    up_by_hand(e, &project).await;
    let details = e.inspect_container(&format!("{name}-app-1")).await.unwrap();
    assert_eq!(
        details.config_hash.as_deref(),
        Some(spec::config_hash(&project, "app").hash.as_str())
    );
    assert_eq!(details.labels[labels::SERVICE], "app");
    assert_eq!(details.labels[labels::CONTAINER_NUMBER], "1");
    assert_eq!(details.labels[SCOPE_LABEL], t.scope);
    assert!(details.env.contains(&"GREETING=hello".to_owned()));
    let probe = ExecSpec {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "grep ' /scratch tmpfs ' /proc/mounts && pwd".into(),
        ],
        timeout: Some(Duration::from_secs(10)),
        ..ExecSpec::default()
    };
    let out = e.exec(&details.name, &probe).await.unwrap();
    assert!(out.success() && out.output.contains("/tmp"), "{out:?}");
    let endpoint = &details.networks[&format!("{name}_default")];
    assert!(endpoint.aliases.contains(&"app".to_owned()), "{endpoint:?}");
    assert_eq!(details.healthcheck.unwrap().test, ["CMD-SHELL", "true"]);
    down(
        e,
        name,
        Some(&project),
        &DownOptions::default(),
        &Collect::default(),
    )
    .await
    .unwrap();
}
