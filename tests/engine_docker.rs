//! `DockerEngine` against the real engine: what the engine really does with
//! what muster sends it, which no fake can tell.
//!
//! Each test takes its own scope (unique names and a label) and removes
//! everything it made when it ends, so the tests run in parallel. Without an
//! engine they skip with a note, unless `CI` is set, where they fail.

#[path = "support/engine.rs"]
mod engine_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use engine_support::{TEST_IMAGE, TestScope, scope, static_busybox};
use futures_util::StreamExt;
use muster::engine::{
    ApiVersion, ContainerSpec, ContainerState, DockerEngine, Engine, EngineConfig, EngineError,
    EventAction, EventFilter, ExecSpec, HealthStatus, HealthcheckSpec, LogOptions, LogStream,
    MountKind, MountSpec, NetworkAttachment, NetworkSpec, PortRange, PortSpec, Protocol,
    PublishedPort, RemoveContainerOptions, VolumeSpec,
};

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
}

fn spec(scope: &TestScope, name: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        name: scope.name(name),
        image: TEST_IMAGE.into(),
        cmd: sh(script),
        labels: scope.labels(),
        init: Some(true),
        stop_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    }
}

fn exec(cmd: &str) -> ExecSpec {
    ExecSpec {
        cmd: sh(cmd).unwrap_or_default(),
        timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    }
}

/// Retries `probe` every 50 ms until it returns `Some`, for at most `limit`.
async fn eventually<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole output of a container so far, split by stream.
async fn output(engine: &DockerEngine, container: &str) -> (String, String) {
    let mut logs = engine.logs(container, &LogOptions::default());
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(chunk) = logs.next().await {
        let chunk = chunk.expect("logs");
        let text = String::from_utf8_lossy(&chunk.data);
        match chunk.stream {
            LogStream::Stdout => out.push_str(&text),
            LogStream::Stderr => err.push_str(&text),
        }
    }
    (out, err)
}

/// Sends a plain HTTP GET to `127.0.0.1:port` and returns the whole answer.
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

#[tokio::test]
async fn version_is_negotiated_and_ping_answers() {
    let Some(t) = scope("version").await else {
        return;
    };
    t.engine.ping().await.unwrap();
    let version = t.engine.version().await.unwrap();
    assert!(version.negotiated >= ApiVersion::MINIMUM, "{version:?}");
    assert!(version.negotiated <= version.api_version, "{version:?}");
    assert_eq!(t.engine.api_version(), version.negotiated);
    assert!(!version.version.is_empty());
}

#[tokio::test]
async fn container_lifecycle_create_start_inspect_exec_logs_stop_remove() {
    let Some(t) = scope("lifecycle").await else {
        return;
    };
    let e = &t.engine;
    let mut labels = t.labels();
    labels.insert("com.docker.compose.config-hash".into(), "abc123".into());
    let spec = ContainerSpec {
        env: BTreeMap::from([("GREETING".into(), "hello".into())]),
        working_dir: Some("/tmp".into()),
        hostname: Some("lifecycle".into()),
        labels,
        ..spec(
            &t,
            "app",
            "echo to-stdout; echo to-stderr >&2; exec sleep 60",
        )
    };
    let id = e.create_container(&spec).await.unwrap();

    let created = e.inspect_container(&spec.name).await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.name, spec.name);
    assert_eq!(created.image, TEST_IMAGE);
    assert_eq!(created.status.state, ContainerState::Created);
    assert_eq!(created.config_hash.as_deref(), Some("abc123"));
    assert_eq!(created.status.started_at, None);
    assert!(created.env.contains(&"GREETING=hello".to_owned()));

    e.start_container(&spec.name).await.unwrap();
    let running = e.inspect_container(&id).await.unwrap();
    assert!(running.status.running);
    assert_eq!(running.status.state, ContainerState::Running);
    let started_at = running.status.started_at.expect("started_at");

    let listed = e.list_containers(&t.filter()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name(), spec.name);
    assert_eq!(listed[0].state, ContainerState::Running);
    assert_eq!(
        listed[0].label("com.docker.compose.config-hash"),
        Some("abc123")
    );

    let ran = e
        .exec(
            &id,
            &exec("echo $GREETING; pwd; hostname; echo oops >&2; exit 3"),
        )
        .await
        .unwrap();
    assert_eq!(ran.exit_code, Some(3), "{ran:?}");
    assert!(!ran.timed_out);
    for expected in ["hello", "/tmp", "lifecycle", "oops"] {
        assert!(
            ran.output.contains(expected),
            "{expected} not in {:?}",
            ran.output
        );
    }
    assert!(e.exec(&id, &exec("true")).await.unwrap().success());

    let slow = ExecSpec {
        timeout: Some(Duration::from_millis(300)),
        ..exec("echo started; sleep 5")
    };
    let slow = e.exec(&id, &slow).await.unwrap();
    assert!(slow.timed_out && slow.exit_code.is_none(), "{slow:?}");

    let (out, err) = eventually(Duration::from_secs(5), || async {
        let (out, err) = output(e, &id).await;
        (out.contains("to-stdout") && err.contains("to-stderr")).then_some((out, err))
    })
    .await
    .expect("both lines in the logs");
    assert!(!out.contains("to-stderr") && !err.contains("to-stdout"));

    e.stop_container(&id, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    let stopped = e.inspect_container(&id).await.unwrap();
    assert!(!stopped.status.running);
    assert_eq!(stopped.status.state, ContainerState::Exited);
    assert!(stopped.status.finished_at.expect("finished_at") >= started_at);
    // Stopping a stopped container is fine; waiting for it returns at once.
    e.stop_container(&id, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        e.wait_container(&id).await.unwrap(),
        stopped.status.exit_code
    );

    e.remove_container(&id, RemoveContainerOptions::default())
        .await
        .unwrap();
    let gone = e.inspect_container(&id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    assert!(e.list_containers(&t.filter()).await.unwrap().is_empty());
}

#[tokio::test]
async fn health_reaches_healthy_with_a_short_interval() {
    let Some(t) = scope("health").await else {
        return;
    };
    let spec = ContainerSpec {
        healthcheck: Some(HealthcheckSpec {
            test: vec![
                "CMD-SHELL".into(),
                "test -f /tmp/ready && echo ready".into(),
            ],
            interval: Some(Duration::from_millis(200)),
            timeout: Some(Duration::from_secs(2)),
            retries: Some(20),
            start_period: None,
            start_interval: Some(Duration::from_millis(100)),
        }),
        ..spec(&t, "db", "sleep 0.5; touch /tmp/ready; exec sleep 60")
    };
    let id = t.engine.create_container(&spec).await.unwrap();
    t.engine.start_container(&id).await.unwrap();
    let healthy = eventually(Duration::from_secs(15), || async {
        let details = t.engine.inspect_container(&id).await.unwrap();
        (details.health_status() == Some(HealthStatus::Healthy)).then_some(details)
    })
    .await
    .expect("the container turns healthy");
    let health = healthy.status.health.unwrap();
    let last = health.log.last().expect("a probe in the log");
    assert_eq!(last.exit_code, 0);
    assert!(last.output.contains("ready"), "{last:?}");
    assert!(last.start.is_some() && last.end >= last.start);
    assert_eq!(
        healthy.healthcheck.unwrap().interval,
        Some(Duration::from_millis(200))
    );
    let listed = t.engine.list_containers(&t.filter()).await.unwrap();
    assert_eq!(listed[0].health, Some(HealthStatus::Healthy));
}

#[tokio::test]
async fn published_port_zero_gets_a_real_port_on_127_0_0_1_that_answers() {
    let Some(t) = scope("port").await else { return };
    let spec = ContainerSpec {
        ports: vec![PortSpec {
            container_port: 8080,
            protocol: Protocol::Tcp,
            published: Some(PublishedPort {
                host_ip: Some("127.0.0.1".into()),
                host_ports: PortRange::any(),
            }),
        }],
        ..spec(
            &t,
            "web",
            "mkdir -p /www && echo hello-from-httpd > /www/index.html && exec httpd -f -p 8080 -h /www",
        )
    };
    let id = t.engine.create_container(&spec).await.unwrap();
    t.engine.start_container(&id).await.unwrap();
    let details = t.engine.inspect_container(&id).await.unwrap();
    let (ip, port) = details
        .published_port(8080, Protocol::Tcp)
        .expect("8080 is published");
    assert_eq!(ip, "127.0.0.1");
    assert_ne!(port, 0);
    let answer = eventually(Duration::from_secs(5), || http_get(port))
        .await
        .expect("httpd answers");
    assert!(answer.contains("hello-from-httpd"), "{answer}");
    let listed = t.engine.list_containers(&t.filter()).await.unwrap();
    assert!(
        listed[0]
            .ports
            .iter()
            .any(|p| p.container_port == 8080 && p.host_port == Some(port))
    );

    // A second container on the same host port: the engine's message, with
    // the operation and the container's name in front.
    let mut taken = spec.clone();
    taken.name = t.name("web2");
    taken.ports[0].published = Some(PublishedPort {
        host_ip: Some("127.0.0.1".into()),
        host_ports: PortRange::single(port),
    });
    t.engine.create_container(&taken).await.unwrap();
    let err = t.engine.start_container(&taken.name).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("failed to start container {}: ", taken.name)),
        "{text}"
    );
    assert!(text.contains("port is already allocated"), "{text}");
}

#[tokio::test]
async fn containers_reach_each_other_by_alias_on_networks() {
    let Some(t) = scope("net").await else { return };
    let e = &t.engine;
    let front = NetworkSpec {
        name: t.name("front"),
        labels: t.labels(),
        ..Default::default()
    };
    let back = NetworkSpec {
        name: t.name("back"),
        labels: t.labels(),
        internal: true,
        ..Default::default()
    };
    e.create_network(&front).await.unwrap();
    e.create_network(&back).await.unwrap();
    let again = e.create_network(&front).await.unwrap_err();
    assert!(again.is_conflict(), "{again}");
    let mut networks = e.list_networks(&t.filter()).await.unwrap();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(networks.len(), 2, "{networks:?}");
    assert!(networks[0].internal && !networks[1].internal);

    let serve = |page: &str| {
        format!("mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 80 -h /www")
    };
    let attach = |network: &NetworkSpec, alias: &str| NetworkAttachment {
        network: network.name.clone(),
        aliases: vec![alias.to_owned()],
        ipv4_address: None,
    };
    // One network at create.
    let server = ContainerSpec {
        networks: vec![attach(&back, "backend")],
        ..spec(&t, "server", &serve("page-of-server"))
    };
    // Two networks: the second is connected right after create.
    let client = ContainerSpec {
        networks: vec![attach(&front, "client"), attach(&back, "frontend")],
        ..spec(&t, "client", &serve("page-of-client"))
    };
    // None at create, connected by hand.
    let late = spec(&t, "late", &serve("page-of-late"));
    for spec in [&server, &client, &late] {
        e.create_container(spec).await.unwrap();
    }
    e.connect_network(&late.name, &attach(&back, "latecomer"))
        .await
        .unwrap();
    let starts = [&server, &client, &late].map(|spec| e.start_container(&spec.name));
    for started in futures_util::future::join_all(starts).await {
        started.unwrap();
    }

    let details = e.inspect_container(&client.name).await.unwrap();
    assert!(
        details.networks[&front.name]
            .aliases
            .contains(&"client".to_owned())
    );
    assert!(
        details.networks[&back.name]
            .aliases
            .contains(&"frontend".to_owned())
    );

    for (from, to, page) in [
        (&client.name, "backend", "page-of-server"),
        (&server.name, "frontend", "page-of-client"),
        (&server.name, "latecomer", "page-of-late"),
    ] {
        // Debian's static busybox `wget` crashes in a scratch image; `nc` works.
        let fetch = exec(&format!(
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {to} 80"
        ));
        let got = eventually(Duration::from_secs(5), || async {
            let got = e.exec(from, &fetch).await.unwrap();
            got.output.contains(page).then_some(got)
        })
        .await
        .unwrap_or_else(|| panic!("{from} cannot reach {to}"));
        assert!(got.output.contains(page), "{from} -> {to}: {got:?}");
    }

    let in_use = e.remove_network(&back.name).await.unwrap_err();
    assert!(in_use.is_conflict(), "{in_use}");
    e.disconnect_network(&late.name, &back.name).await.unwrap();
    for spec in [&server, &client, &late] {
        e.remove_container(
            &spec.name,
            RemoveContainerOptions {
                force: true,
                volumes: true,
            },
        )
        .await
        .unwrap();
    }
    e.remove_network(&back.name).await.unwrap();
    e.remove_network(&front.name).await.unwrap();
    assert!(e.list_networks(&t.filter()).await.unwrap().is_empty());
    assert!(
        e.remove_network(&front.name)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn volumes_are_created_listed_keep_data_and_are_removed() {
    let Some(t) = scope("volume").await else {
        return;
    };
    let e = &t.engine;
    let volume = VolumeSpec {
        name: t.name("data"),
        labels: t.labels(),
        ..Default::default()
    };
    let created = e.create_volume(&volume).await.unwrap();
    assert_eq!(created.name, volume.name);
    assert_eq!(created.driver, "local");
    // Creating it again gives the same volume.
    assert_eq!(e.create_volume(&volume).await.unwrap().name, volume.name);
    let listed = e.list_volumes(&t.filter()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].labels, t.labels());

    let mount = MountSpec {
        target: "/data".into(),
        kind: MountKind::Volume {
            source: Some(volume.name.clone()),
            no_copy: false,
        },
        read_only: false,
    };
    let writer = ContainerSpec {
        mounts: vec![mount.clone()],
        ..spec(&t, "writer", "echo kept > /data/file")
    };
    let reader = ContainerSpec {
        mounts: vec![MountSpec {
            read_only: true,
            ..mount
        }],
        ..spec(&t, "reader", "cat /data/file; touch /data/other")
    };
    for spec in [&writer, &reader] {
        e.create_container(spec).await.unwrap();
        e.start_container(&spec.name).await.unwrap();
        e.wait_container(&spec.name).await.unwrap();
    }
    let (out, err) = output(e, &reader.name).await;
    assert!(out.contains("kept"), "{out}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(e.wait_container(&reader.name).await.unwrap(), 1);

    let busy = e.remove_volume(&volume.name, false).await.unwrap_err();
    assert!(busy.is_conflict(), "{busy}");
    for spec in [&writer, &reader] {
        e.remove_container(&spec.name, RemoveContainerOptions::default())
            .await
            .unwrap();
    }
    e.remove_volume(&volume.name, false).await.unwrap();
    assert!(e.list_volumes(&t.filter()).await.unwrap().is_empty());
    let missing = e.remove_volume(&volume.name, false).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

#[tokio::test]
async fn events_stream_sees_start_and_die_with_the_exit_code() {
    let Some(t) = scope("events").await else {
        return;
    };
    let since = SystemTime::now() - Duration::from_secs(1);
    let mut events = t.engine.events(&EventFilter {
        labels: t.filter(),
        since: Some(since),
        ..Default::default()
    });
    let spec = spec(&t, "job", "sleep 0.2; exit 7");
    t.engine.create_container(&spec).await.unwrap();
    t.engine.start_container(&spec.name).await.unwrap();
    assert_eq!(t.engine.wait_container(&spec.name).await.unwrap(), 7);

    let mut seen = Vec::new();
    let die = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            assert_eq!(event.name(), Some(spec.name.as_str()), "{event:?}");
            seen.push(event.action.clone());
            if event.action == EventAction::Die {
                return event;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .unwrap_or_else(|_| panic!("no die event; saw {seen:?}"));
    assert_eq!(die.exit_code(), Some(7));
    assert!(die.time.is_some_and(|time| time >= since));
    let create = seen.iter().position(|a| *a == EventAction::Create);
    let start = seen.iter().position(|a| *a == EventAction::Start);
    assert!(create < start && start.is_some(), "{seen:?}");
}

#[tokio::test]
async fn starting_a_missing_container_names_it() {
    let Some(t) = scope("missing").await else {
        return;
    };
    let name = t.name("ghost");
    let err = t.engine.start_container(&name).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("failed to start container {name}: ")),
        "{text}"
    );
    assert!(text.contains("No such container"), "{text}");
}

#[tokio::test]
async fn creating_from_a_missing_image_says_the_image_is_missing() {
    let Some(t) = scope("noimage").await else {
        return;
    };
    let spec = ContainerSpec {
        image: "muster-test/absent:404".into(),
        ..spec(&t, "app", "true")
    };
    let err = t.engine.create_container(&spec).await.unwrap_err();
    match &err {
        EngineError::ImageMissing { container, image } => {
            assert_eq!(container, &spec.name);
            assert_eq!(image, "muster-test/absent:404");
        }
        other => panic!("expected ImageMissing, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("image \"muster-test/absent:404\" is not present locally"),
        "{err}"
    );
    assert!(
        t.engine
            .list_containers(&t.filter())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn name_conflicts_and_killing_stopped_containers_are_conflicts() {
    let Some(t) = scope("conflict").await else {
        return;
    };
    let spec = spec(&t, "app", "exec sleep 60");
    t.engine.create_container(&spec).await.unwrap();
    let err = t.engine.create_container(&spec).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("failed to create container {}: ", spec.name)),
        "{err}"
    );
    let err = t.engine.kill_container(&spec.name, None).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    t.engine.start_container(&spec.name).await.unwrap();
    t.engine.kill_container(&spec.name, None).await.unwrap();
    assert_eq!(t.engine.wait_container(&spec.name).await.unwrap(), 137);
}

#[tokio::test]
async fn images_are_inspected_and_removed_by_tag() {
    let Some(t) = scope("image").await else {
        return;
    };
    let image = t
        .engine
        .inspect_image(TEST_IMAGE)
        .await
        .unwrap()
        .expect("the test image");
    assert!(image.id.starts_with("sha256:"), "{image:?}");
    assert!(image.repo_tags.contains(&TEST_IMAGE.to_owned()));
    assert_eq!(
        image
            .labels
            .get("dev.muster.test-image")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        t.engine
            .inspect_image("muster-test/absent:404")
            .await
            .unwrap(),
        None
    );

    let tag = t.name("tag");
    t.engine
        .client()
        .tag_image(
            TEST_IMAGE,
            Some(bollard::query_parameters::TagImageOptions {
                repo: Some("muster-test/scratch".into()),
                tag: Some(tag.clone()),
            }),
        )
        .await
        .unwrap();
    let reference = format!("muster-test/scratch:{tag}");
    assert_eq!(
        t.engine
            .inspect_image(&reference)
            .await
            .unwrap()
            .unwrap()
            .id,
        image.id
    );
    t.engine.remove_image(&reference, false).await.unwrap();
    assert_eq!(t.engine.inspect_image(&reference).await.unwrap(), None);
    assert!(t.engine.inspect_image(TEST_IMAGE).await.unwrap().is_some());
    let err = t.engine.remove_image(&reference, false).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn unreachable_docker_host_fails_fast_naming_the_address() {
    for host in ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"] {
        let config =
            EngineConfig::from_lookup(|key| (key == "DOCKER_HOST").then(|| host.to_owned()))
                .unwrap();
        let err = DockerEngine::connect_with(&config).await.unwrap_err();
        assert!(err.is_unreachable(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot reach the Docker engine at {host}: ")),
            "{text}"
        );
        assert!(text.contains("Is the Docker daemon running?"), "{text}");
        assert!(
            text.ends_with(&format!("DOCKER_HOST is set to {host}.")),
            "{text}"
        );
    }
    let config = EngineConfig::from_lookup(|_| None).unwrap();
    assert_eq!(config.host, "unix:///var/run/docker.sock");
}

#[test]
fn the_test_image_needs_a_static_busybox() {
    for path in ["/nonexistent/busybox", "/bin/sh"] {
        let err = static_busybox(std::path::Path::new(path)).unwrap_err();
        assert!(err.contains("busybox-static"), "{path}: {err}");
    }
    let err = static_busybox(std::path::Path::new("/bin/sh")).unwrap_err();
    assert!(err.contains("dynamically linked"), "{err}");
}

#[tokio::test]
async fn tls_without_certificates_says_which_file_is_missing() {
    let vars = |key: &str| match key {
        "DOCKER_HOST" => Some("tcp://127.0.0.1:2376".to_owned()),
        "DOCKER_TLS_VERIFY" => Some("1".to_owned()),
        "DOCKER_CERT_PATH" => Some("/nonexistent/certs".to_owned()),
        _ => None,
    };
    let config = EngineConfig::from_lookup(vars).unwrap();
    let err = DockerEngine::connect_with(&config).await.unwrap_err();
    assert!(matches!(err, EngineError::InvalidHost { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("/nonexistent/certs/ca.pem is missing"),
        "{err}"
    );
}
