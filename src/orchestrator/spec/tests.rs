//! Unit tests of the desired state: compose files written to a temp dir,
//! loaded as muster loads them, turned into engine requests.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::engine::PublishedPort;
use crate::model::{ProjectOptions, load};

/// A project named `shop` from `compose` (plus `files`) in a fresh dir.
fn project_with(compose: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, LoadedProject) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let loaded = load_in(dir.path());
    (dir, loaded)
}

fn load_in(dir: &Path) -> LoadedProject {
    let options = ProjectOptions {
        project_name: Some("shop".into()),
        ..ProjectOptions::in_dir(dir)
    };
    match load(&options) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors:?}"),
    }
}

fn project(compose: &str) -> (tempfile::TempDir, LoadedProject) {
    project_with(compose, &[])
}

#[test]
fn names_follow_compose_v2() {
    let (_dir, p) = project(
        "services:\n  api: {image: x}\n  db: {image: y, container_name: the-db}\n  Web: {build: .}\n",
    );
    let api = &p.project.services["api"];
    assert_eq!(container_name("shop", "api", api, 2), "shop-api-2");
    let db = &p.project.services["db"];
    assert_eq!(container_name("shop", "db", db, 1), "the-db");
    assert_eq!(
        image_name("shop", "Web", &p.project.services["Web"]),
        "shop-web"
    );
    assert_eq!(container_spec(&p, "Web", 1).unwrap().image, "shop-web");
    assert_eq!(network_name(&p, "default"), "shop_default");
    assert_eq!(volume_name(&p, "data"), "shop_data");
    assert_eq!(
        project_filter("shop").to_string(),
        "com.docker.compose.project=shop"
    );
}

#[test]
fn labels_are_compose_labels() {
    let (dir, p) = project(
        "services:\n  api:\n    image: x\n    labels: {team: core, com.docker.compose.project: spoofed}\n    depends_on:\n      db: {condition: service_healthy}\n  db: {image: y}\n",
    );
    let spec = container_spec(&p, "api", 3).unwrap();
    let l = &spec.labels;
    assert_eq!(l[labels::PROJECT], "shop");
    assert_eq!(l[labels::SERVICE], "api");
    assert_eq!(l[labels::CONTAINER_NUMBER], "3");
    assert_eq!(l[labels::ONEOFF], "False");
    assert_eq!(l[labels::VERSION], VERSION);
    assert_eq!(l["team"], "core");
    assert_eq!(l[labels::DEPENDS_ON], "db:service_healthy:false");
    assert_eq!(parse_depends_on_label(&l[labels::DEPENDS_ON]), ["db"]);
    assert_eq!(l[labels::CONFIG_HASH], config_hash(&p, "api").hash);
    assert_eq!(l[labels::CONFIG_HASH].len(), 64);
    let canonical_dir = dir.path().canonicalize().unwrap();
    assert!(
        Path::new(&l[labels::WORKING_DIR]).canonicalize().unwrap() == canonical_dir,
        "{}",
        l[labels::WORKING_DIR]
    );
    assert!(
        l[labels::CONFIG_FILES].ends_with("compose.yaml"),
        "{}",
        l[labels::CONFIG_FILES]
    );
    assert!(l[labels::CONFIG_FIELDS].contains("image="));
}

#[test]
fn hash_is_stable_and_says_which_fields_changed() {
    let compose = "services:\n  api:\n    image: x\n    environment: {A: '1', B: '2'}\n    ports: ['8080:80']\n";
    let (_d1, first) = project(compose);
    let (_d2, again) = project(compose);
    let before = config_hash(&first, "api");
    assert_eq!(before, config_hash(&again, "api"));
    assert_eq!(
        changed_fields(&before.fields_label(), &config_hash(&again, "api")),
        Vec::<String>::new()
    );

    // The order variables are written in does not matter.
    let (_d, reordered) = project(
        "services:\n  api:\n    image: x\n    environment: {B: '2', A: '1'}\n    ports: ['8080:80']\n",
    );
    assert_eq!(config_hash(&reordered, "api").hash, before.hash);

    let (_d, changed) = project(
        "services:\n  api:\n    image: x\n    environment: {A: '1', B: '3'}\n    ports: ['8080:80']\n",
    );
    let after = config_hash(&changed, "api");
    assert_ne!(after.hash, before.hash);
    assert_eq!(
        changed_fields(&before.fields_label(), &after),
        ["environment"]
    );

    // Added and removed fields count too.
    let (_d, more) = project(
        "services:\n  api:\n    image: x\n    environment: {A: '1', B: '2'}\n    user: '1000'\n",
    );
    assert_eq!(
        changed_fields(&before.fields_label(), &config_hash(&more, "api")),
        ["ports", "user"]
    );
    // A container without muster's label: nothing to compare with.
    assert!(changed_fields("", &after).is_empty());
}

#[test]
fn replicas_and_dependencies_do_not_change_the_hash() {
    let (_d1, one) = project("services:\n  api: {image: x}\n  db: {image: y}\n");
    let (_d2, three) = project(
        "services:\n  api: {image: x, scale: 3, depends_on: [db], profiles: [dev], deploy: {replicas: 3}}\n  db: {image: y}\n",
    );
    let mut three = three;
    three.profiles = vec!["dev".into()];
    assert_eq!(config_hash(&one, "api"), config_hash(&three, "api"));
}

#[test]
fn env_file_changes_show_as_environment() {
    let compose = "services:\n  api: {image: x, env_file: [app.env]}\n";
    let (_d1, a) = project_with(compose, &[("app.env", "A=1\n")]);
    let (_d2, b) = project_with(compose, &[("app.env", "A=2\n")]);
    let (ha, hb) = (config_hash(&a, "api"), config_hash(&b, "api"));
    assert_eq!(changed_fields(&ha.fields_label(), &hb), ["environment"]);
    assert_eq!(container_spec(&b, "api", 1).unwrap().env["A"], "2");
}

#[test]
fn command_environment_and_process_settings() {
    let (_dir, p) = project(
        r"services:
  api:
    image: x
    command: sh -c 'echo hi'
    entrypoint: []
    environment: [A=1, UNSET_PASSTHROUGH]
    working_dir: /app
    user: '1000:1000'
    hostname: api-host
    init: true
    tty: true
    stdin_open: true
    stop_signal: SIGINT
    stop_grace_period: 1500ms
    restart: on-failure:3
    extra_hosts: ['db.local=10.0.0.2']
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    privileged: true
    read_only: true
    shm_size: 64m
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
",
    );
    let s = container_spec(&p, "api", 1).unwrap();
    assert_eq!(s.name, "shop-api-1");
    assert_eq!(s.image, "x");
    assert_eq!(
        s.cmd,
        Some(vec!["sh".to_owned(), "-c".into(), "echo hi".into()])
    );
    assert_eq!(s.entrypoint, Some(vec![]));
    assert_eq!(
        s.env.iter().collect::<Vec<_>>(),
        [(&"A".to_owned(), &"1".to_owned())],
        "unset pass-through variables are dropped"
    );
    assert_eq!(s.working_dir.as_deref(), Some("/app"));
    assert_eq!(s.user.as_deref(), Some("1000:1000"));
    assert_eq!(s.hostname.as_deref(), Some("api-host"));
    assert_eq!(s.init, Some(true));
    assert!(s.tty && s.stdin_open && s.privileged && s.read_only);
    assert_eq!(s.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(s.stop_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(
        s.restart,
        RestartPolicy::OnFailure {
            max_retries: Some(3)
        }
    );
    assert_eq!(s.extra_hosts, ["db.local:10.0.0.2"]);
    assert_eq!(
        (s.cap_add.as_slice(), s.cap_drop.as_slice()),
        (
            ["NET_ADMIN".to_owned()].as_slice(),
            ["ALL".to_owned()].as_slice()
        )
    );
    assert_eq!(s.shm_size, Some(64 << 20));
    assert_eq!(
        s.ulimits,
        [
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            },
            Ulimit {
                name: "nproc".into(),
                soft: 512,
                hard: 512
            }
        ]
    );
}

#[test]
fn restart_policies() {
    for (text, policy) in [
        ("no", RestartPolicy::No),
        ("always", RestartPolicy::Always),
        ("unless-stopped", RestartPolicy::UnlessStopped),
        ("on-failure", RestartPolicy::OnFailure { max_retries: None }),
    ] {
        let (_d, p) = project(&format!(
            "services:\n  api: {{image: x, restart: '{text}'}}\n"
        ));
        assert_eq!(
            container_spec(&p, "api", 1).unwrap().restart,
            policy,
            "{text}"
        );
    }
    let (_d, p) = project(
        "services:\n  api:\n    image: x\n    restart: always\n    deploy: {restart_policy: {condition: on-failure, max_attempts: 2}}\n",
    );
    assert_eq!(
        container_spec(&p, "api", 1).unwrap().restart,
        RestartPolicy::OnFailure {
            max_retries: Some(2)
        }
    );
}

#[test]
fn ports_publish_where_the_file_says() {
    let (_dir, p) = project(
        r#"services:
  api:
    image: x
    ports:
      - "127.0.0.1:8080:80"
      - "9000"
      - "127.0.0.1::81"
      - "53:53/udp"
      - "3000-3001:4000-4001"
      - "8000-8010:82"
      - target: 83
        published: "0"
    expose: ["5000-5001", "6000/udp", "80"]
"#,
    );
    let s = container_spec(&p, "api", 1).unwrap();
    let published = |ip: Option<&str>, start: u16, end: u16| {
        Some(PublishedPort {
            host_ip: ip.map(str::to_owned),
            host_ports: PortRange { start, end },
        })
    };
    let find = |port: u16, proto: Protocol| {
        s.ports
            .iter()
            .find(|p| p.container_port == port && p.protocol == proto)
            .unwrap_or_else(|| panic!("{port}/{proto} in {:?}", s.ports))
            .published
            .clone()
    };
    assert_eq!(
        find(80, Protocol::Tcp),
        published(Some("127.0.0.1"), 8080, 8080)
    );
    assert_eq!(find(9000, Protocol::Tcp), published(None, 0, 0));
    assert_eq!(find(81, Protocol::Tcp), published(Some("127.0.0.1"), 0, 0));
    assert_eq!(find(53, Protocol::Udp), published(None, 53, 53));
    assert_eq!(find(4000, Protocol::Tcp), published(None, 3000, 3000));
    assert_eq!(find(4001, Protocol::Tcp), published(None, 3001, 3001));
    assert_eq!(find(82, Protocol::Tcp), published(None, 8000, 8010));
    assert_eq!(find(83, Protocol::Tcp), published(None, 0, 0));
    assert_eq!(find(5000, Protocol::Tcp), None);
    assert_eq!(find(5001, Protocol::Tcp), None);
    assert_eq!(find(6000, Protocol::Udp), None);
    assert_eq!(
        s.ports.iter().filter(|p| p.container_port == 80).count(),
        1,
        "an exposed port that is also published is listed once"
    );
}

#[test]
fn mounts_bind_named_anonymous_tmpfs() {
    let (dir, p) = project(
        r"services:
  api:
    image: x
    volumes:
      - ./src:/app:ro
      - data:/data
      - /cache
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1m, mode: '1777'}
      - type: bind
        source: ./conf
        target: /conf
        bind: {create_host_path: false}
      - type: volume
        source: logs
        target: /logs
        volume: {nocopy: true}
      - shared:/shared
    tmpfs: ['/run', '/tmp:size=64m,mode=1770']
volumes:
  data: {}
  logs: {name: custom-logs}
  shared: {external: true}
",
    );
    let s = container_spec(&p, "api", 1).unwrap();
    let m = |target: &str| {
        s.mounts
            .iter()
            .find(|m| m.target == target)
            .unwrap_or_else(|| panic!("{target} in {:?}", s.mounts))
            .clone()
    };
    let src = m("/app");
    assert!(src.read_only);
    match src.kind {
        MountKind::Bind {
            source,
            create_host_path,
        } => {
            assert!(source.is_absolute(), "{}", source.display());
            assert!(source.starts_with(dir.path()) || source.ends_with("src"));
            assert!(create_host_path);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        m("/conf").kind,
        MountKind::Bind {
            create_host_path: false,
            ..
        }
    ));
    assert_eq!(
        m("/data").kind,
        MountKind::Volume {
            source: Some("shop_data".into()),
            no_copy: false
        }
    );
    assert_eq!(
        m("/cache").kind,
        MountKind::Volume {
            source: None,
            no_copy: false
        }
    );
    assert_eq!(
        m("/logs").kind,
        MountKind::Volume {
            source: Some("custom-logs".into()),
            no_copy: true
        }
    );
    assert_eq!(
        m("/shared").kind,
        MountKind::Volume {
            source: Some("shared".into()),
            no_copy: false
        }
    );
    assert_eq!(
        m("/scratch").kind,
        MountKind::Tmpfs {
            size: Some(1 << 20),
            mode: Some(0o1777)
        }
    );
    assert_eq!(
        m("/run").kind,
        MountKind::Tmpfs {
            size: None,
            mode: None
        }
    );
    assert_eq!(
        m("/tmp").kind,
        MountKind::Tmpfs {
            size: Some(64 << 20),
            mode: Some(0o1770)
        }
    );
}

#[test]
fn secrets_and_configs_are_read_only_binds() {
    let (_dir, p) = project_with(
        r"services:
  api:
    image: x
    secrets: [token, {source: token, target: other}]
    configs: [settings]
secrets:
  token: {file: ./token.txt}
configs:
  settings: {file: ./settings.json}
",
        &[("token.txt", "s3cret"), ("settings.json", "{}")],
    );
    let s = container_spec(&p, "api", 1).unwrap();
    let targets: Vec<(&str, bool)> = s
        .mounts
        .iter()
        .map(|m| (m.target.as_str(), m.read_only))
        .collect();
    assert_eq!(
        targets,
        [
            ("/run/secrets/token", true),
            ("/run/secrets/other", true),
            ("/settings", true)
        ]
    );

    let (_dir, p) =
        project("services:\n  api: {image: x, configs: [c]}\nconfigs:\n  c: {content: hello}\n");
    let err = container_spec(&p, "api", 1).unwrap_err();
    assert!(matches!(err, SpecError::Unsupported { .. }), "{err}");
    assert!(
        err.to_string().contains("service \"api\": `configs`"),
        "{err}"
    );
}

#[test]
fn networks_with_aliases_and_the_default_network() {
    let (_dir, p) = project(
        r"services:
  api:
    image: x
    networks:
      back: {aliases: [backend], priority: 10, ipv4_address: 172.28.0.5}
      front: {}
  web:
    image: x
  vpn:
    image: x
    network_mode: service:web
  tool:
    image: x
    network_mode: host
networks:
  front: {labels: {tier: front}}
  back: {name: the-back, internal: true, driver_opts: {mtu: '1400'}}
  unused: {}
  outside: {external: true}
",
    );
    let api = container_spec(&p, "api", 2).unwrap();
    assert_eq!(api.network_mode, None);
    assert_eq!(
        api.networks,
        [
            NetworkAttachment {
                network: "the-back".into(),
                aliases: vec!["shop-api-2".into(), "api".into(), "backend".into()],
                ipv4_address: Some("172.28.0.5".into()),
            },
            NetworkAttachment {
                network: "shop_front".into(),
                aliases: vec!["shop-api-2".into(), "api".into()],
                ipv4_address: None,
            },
        ]
    );
    let web = container_spec(&p, "web", 1).unwrap();
    assert_eq!(web.networks[0].network, "shop_default");
    assert_eq!(web.networks[0].aliases, ["shop-web-1", "web"]);
    let vpn = container_spec(&p, "vpn", 1).unwrap();
    assert_eq!(vpn.network_mode.as_deref(), Some("container:shop-web-1"));
    assert!(vpn.networks.is_empty());
    let tool = container_spec(&p, "tool", 1).unwrap();
    assert_eq!(tool.network_mode.as_deref(), Some("host"));
    assert!(tool.networks.is_empty());

    let all: Vec<String> = p.project.services.keys().cloned().collect();
    let plans = networks(&p, &all);
    let names: Vec<&str> = plans.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["shop_default", "shop_front", "the-back"]);
    let back = &plans[2];
    assert!(back.spec.internal && !back.external);
    assert_eq!(back.spec.options["mtu"], "1400");
    assert_eq!(back.spec.labels[labels::NETWORK], "back");
    assert_eq!(back.spec.labels[labels::PROJECT], "shop");
    assert_eq!(plans[1].spec.labels["tier"], "front");

    // Only what the selected services use.
    let plans = networks(&p, &["tool".to_owned()]);
    assert!(plans.is_empty());
    let plans = networks(&p, &["web".to_owned()]);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].key, "default");
}

#[test]
fn external_networks_and_volumes_are_planned_but_marked() {
    let (_dir, p) = project(
        r"services:
  api:
    image: x
    networks: [outside, default]
    volumes: [data:/data, keep:/keep]
networks:
  default: {name: my-default}
  outside: {external: true, name: corp-net}
volumes:
  data: {driver_opts: {type: tmpfs, device: tmpfs}, labels: {backup: 'no'}}
  keep: {external: true}
  unused: {}
",
    );
    let plans = networks(&p, &["api".to_owned()]);
    let view: Vec<(&str, &str, bool)> = plans
        .iter()
        .map(|n| (n.key.as_str(), n.name.as_str(), n.external))
        .collect();
    assert_eq!(
        view,
        [
            ("default", "my-default", false),
            ("outside", "corp-net", true)
        ]
    );
    let plans = volumes(&p, &["api".to_owned()]);
    let view: Vec<(&str, &str, bool)> = plans
        .iter()
        .map(|v| (v.key.as_str(), v.name.as_str(), v.external))
        .collect();
    assert_eq!(view, [("data", "shop_data", false), ("keep", "keep", true)]);
    assert_eq!(plans[0].spec.driver_opts["type"], "tmpfs");
    assert_eq!(plans[0].spec.labels["backup"], "no");
    assert_eq!(plans[0].spec.labels[labels::VOLUME], "data");
    assert_eq!(plans[0].spec.labels[labels::PROJECT], "shop");
}

#[test]
fn healthchecks_and_disabling_them() {
    let (_dir, p) = project(
        r"services:
  api:
    image: x
    healthcheck:
      test: nc -z localhost 80
      interval: 2s
      timeout: 1s
      retries: 5
      start_period: 3s
      start_interval: 100ms
  off:
    image: x
    healthcheck: {disable: true}
  none:
    image: x
    healthcheck: {test: [NONE]}
",
    );
    let h = container_spec(&p, "api", 1).unwrap().healthcheck.unwrap();
    assert_eq!(h.test, ["CMD-SHELL", "nc -z localhost 80"]);
    assert_eq!(h.interval, Some(Duration::from_secs(2)));
    assert_eq!(h.timeout, Some(Duration::from_secs(1)));
    assert_eq!(h.retries, Some(5));
    assert_eq!(h.start_period, Some(Duration::from_secs(3)));
    assert_eq!(h.start_interval, Some(Duration::from_millis(100)));
    for service in ["off", "none"] {
        let h = container_spec(&p, service, 1).unwrap().healthcheck.unwrap();
        assert_eq!(h.test, ["NONE"], "{service}");
    }
}

#[test]
fn label_files_are_read() {
    let (_dir, p) = project_with(
        "services:\n  api: {image: x, label_file: [app.labels], labels: {b: from-file-overridden}}\n",
        &[("app.labels", "# labels\na=1\nb=2\n")],
    );
    let s = container_spec(&p, "api", 1).unwrap();
    assert_eq!(s.labels["a"], "1");
    assert_eq!(s.labels["b"], "from-file-overridden");

    // What the files say is hashed, not where they are.
    let compose = "services:\n  api: {image: x, label_file: [app.labels]}\n";
    let (_d1, a) = project_with(compose, &[("app.labels", "a=1\n")]);
    let (_d2, b) = project_with(compose, &[("app.labels", "a=2\n")]);
    let (_d3, c) = project_with(compose, &[("app.labels", "a=1\n")]);
    let ha = config_hash(&a, "api");
    assert_eq!(ha, config_hash(&c, "api"));
    assert_eq!(
        changed_fields(&ha.fields_label(), &config_hash(&b, "api")),
        ["labels"]
    );
}

#[test]
fn impossible_services_name_the_service_and_the_field() {
    let (_dir, mut p) = project(
        "services:\n  api: {image: x, container_name: fixed}\n  pipe:\n    image: x\n    volumes: [{type: npipe, source: x, target: /x}]\n  weird: {image: x, tmpfs: ['/t:uid=1000']}\n",
    );
    // The loader refuses this already; a caller that builds a project by
    // hand gets the same answer.
    p.project.services["api"].scale = Some(2);
    let err = container_spec(&p, "api", 1).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "service \"api\": `container_name`: a fixed container name allows one container"
        ),
        "{err}"
    );
    let err = container_spec(&p, "pipe", 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service \"pipe\": `volumes[0]`: mounts of type npipe (not supported by muster)"
    );
    let err = container_spec(&p, "weird", 1).unwrap_err();
    assert!(err.to_string().contains("`tmpfs`"), "{err}");
    assert_eq!(
        container_spec(&p, "nope", 1).unwrap_err(),
        SpecError::UnknownService {
            service: "nope".into()
        }
    );
}

#[test]
fn ignored_fields_are_listed_for_a_note() {
    let (_dir, p) = project(
        r"services:
  api:
    image: x
    dns: [8.8.8.8]
    mem_limit: 512m
    x-custom: 1
    deploy: {replicas: 2, resources: {limits: {memory: 50M}}}
    volumes:
      - ./a:/a:z
  plain: {image: x, environment: {A: '1'}, ports: ['80']}
",
    );
    assert_eq!(
        ignored_fields(&p.project.services["api"]),
        [
            "deploy.resources",
            "dns",
            "mem_limit",
            "volumes.bind.selinux"
        ]
    );
    assert!(ignored_fields(&p.project.services["plain"]).is_empty());
}
