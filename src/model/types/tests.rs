//! Tests of the whole model: a file using every key, the corpus of real
//! compose files, round trips, path resolution and the schema.

use std::path::PathBuf;

use super::*;

/// Reads a file as the loader hands it over: merge keys applied, `x-` keys
/// taken out (everywhere, which is enough for these fixtures).
fn project(yaml: &str) -> Result<Project, String> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    value.apply_merge().map_err(|e| e.to_string())?;
    strip_extensions(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
}

fn strip_extensions(value: &mut serde_yaml::Value) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            map.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
            for (_, v) in map.iter_mut() {
                strip_extensions(v);
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(strip_extensions),
        _ => {}
    }
}

/// A file that uses every key of the Compose Specification at least once.
const EVERYTHING: &str = r#"
version: "3.9"
name: everything
include:
  - ./other/compose.yaml
  - path: [a.yaml, b.yaml]
    project_directory: ./sub
    env_file: sub.env
x-common: &common
  restart: unless-stopped
services:
  bar:
    build:
      dockerfile_inline: |
        FROM busybox
  web:
    <<: *common
    annotations: [com.example.a=b]
    attach: false
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/sda, weight: 400}]
      device_read_bps: [{path: /dev/sda, rate: 12mb}]
      device_read_iops: [{path: /dev/sda, rate: 120}]
      device_write_bps: [{path: /dev/sda, rate: 1024k}]
      device_write_iops: [{path: /dev/sda, rate: 30}]
    build:
      context: ./web
      dockerfile: Dockerfile.dev
      args: {NODE_ENV: development, FROM_SHELL: }
      ssh: [default]
      target: dev
      network: host
      cache_from: [web:cache]
      cache_to: [type=inline]
      no_cache: false
      no_cache_filter: [deps]
      labels: {com.example.built: "yes"}
      additional_contexts: {base: "service:base", lib: ../lib}
      secrets: [npmrc, {source: token, target: id_token, uid: "103", gid: "103", mode: 0440}]
      tags: ["web:dev"]
      platforms: [linux/amd64]
      shm_size: 256m
      extra_hosts: ["registry=10.0.0.9"]
      isolation: default
      privileged: false
      pull: true
      entitlements: [network.host]
      ulimits: {nofile: 4096}
      provenance: mode=max
      sbom: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    cgroup: private
    cgroup_parent: m-executor
    command: npm run "start dev"
    configs:
      - nginx_conf
      - source: app_conf
        target: /etc/app.conf
        mode: "0444"
    container_name: everything-web
    cpu_count: 2
    cpu_percent: 50
    cpu_shares: 512
    cpu_quota: 50000
    cpu_period: 100000
    cpu_rt_period: 1000000
    cpu_rt_runtime: 950ms
    cpus: 1.5
    cpuset: 0-1
    credential_spec: {config: my_spec}
    depends_on:
      db:
        condition: service_healthy
        restart: true
      migrate:
        condition: service_completed_successfully
      cache:
        condition: service_started
        required: false
    deploy:
      mode: replicated
      replicas: 2
      endpoint_mode: vip
      labels: {com.example.tier: front}
      resources:
        limits: {cpus: "0.5", memory: 512M, pids: 100}
        reservations:
          cpus: "0.25"
          memory: 128M
          devices: [{capabilities: [gpu], count: 1, driver: nvidia}]
          generic_resources: [{discrete_resource_spec: {kind: ssd, value: 1}}]
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
      update_config: {parallelism: 1, delay: 10s, order: start-first, failure_action: rollback, monitor: 1m, max_failure_ratio: 0.1}
      rollback_config: {parallelism: 1}
      placement: {constraints: [node.role==worker], preferences: [{spread: node.labels.zone}], max_replicas_per_node: 1}
    develop:
      watch:
        - path: ./web/src
          action: sync
          target: /app/src
          ignore: [node_modules/]
          initial_sync: true
        - path: ./web/package.json
          action: rebuild
        - path: ./web/conf
          action: sync+exec
          target: /etc/web
          include: "*.conf"
          exec:
            command: kill -HUP 1
            user: root
            privileged: true
            working_dir: /
            environment: {RELOAD: "1"}
        - path: ./web/flags
          action: sync+restart
          target: /flags
        - path: ./web/env
          action: restart
    device_cgroup_rules: ["c 1:3 mr"]
    devices: ["/dev/ttyUSB0:/dev/ttyUSB0:rwm", {source: /dev/sda, target: /dev/xvda, permissions: r}]
    dns: 8.8.8.8
    dns_opt: [use-vc]
    dns_search: [dc1.example.com]
    domainname: example.com
    entrypoint: ["/docker-entrypoint.sh"]
    env_file:
      - .env
      - path: ./web.env
        required: false
        format: raw
    environment:
      - NODE_ENV=development
      - PORT=3000
      - FROM_SHELL
    expose: ["3000", 9229]
    external_links: [redis_1:redis]
    extra_hosts:
      somehost: 162.242.195.82
      multi: [10.0.0.1, "::1"]
    gpus: all
    group_add: [mail, 1001]
    healthcheck:
      test: wget -qO- http://localhost:3000/health || exit 1
      interval: 1m30s
      timeout: 10s
      retries: 3
      start_period: 40s
      start_interval: 500ms
    hostname: web
    image: example/web:dev
    init: true
    ipc: "service:shm"
    isolation: default
    label_file: [./labels]
    labels:
      com.example.description: Accounting webapp
      com.example.number: 42
      com.example.empty:
    links: ["db:database", cache]
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: 3}
    mac_address: 02:42:ac:11:65:43
    mem_limit: 1g
    mem_reservation: 512m
    mem_swappiness: 60
    memswap_limit: 2g
    models: [llm]
    networks:
      front:
        aliases: [www]
        ipv4_address: 172.16.238.10
        ipv6_address: "2001:3984:3989::10"
        mac_address: 02:42:72:98:65:08
        priority: 1000
        gw_priority: 1
        interface_name: eth1
        link_local_ips: [169.254.1.1]
        driver_opts: {com.docker.network.bridge.name: br0}
      back:
    oom_kill_disable: false
    oom_score_adj: -500
    pid: "service:init"
    pids_limit: 200
    platform: linux/amd64
    ports:
      - 3000
      - "3001-3002"
      - "8080:80"
      - "127.0.0.1:9229:9229/tcp"
      - target: 443
        published: "8443"
        host_ip: 0.0.0.0
        protocol: tcp
        mode: host
        app_protocol: https
        name: tls
    post_start:
      - command: ./warm-cache.sh
        user: node
    pre_stop:
      - command: ["./drain.sh", "--timeout", "10"]
    privileged: false
    profiles: [frontend]
    pull_policy: missing
    pull_refresh_after: 24h
    read_only: true
    runtime: runc
    scale: 2
    secrets:
      - db_password
      - source: api_key
        target: /run/secrets/key
        mode: 0400
    security_opt: [no-new-privileges:true]
    shm_size: 64m
    stdin_open: true
    stop_grace_period: 20s
    stop_signal: SIGUSR1
    storage_opt: {size: 20G}
    sysctls: [net.core.somaxconn=1024]
    tmpfs: /run
    tty: true
    ulimits:
      nproc: 65535
      nofile: {soft: 20000, hard: 40000}
    use_api_socket: false
    user: "1000:1000"
    userns_mode: host
    uts: host
    volumes:
      - /var/lib/anonymous
      - ./src:/app:ro
      - data:/data:nocopy
      - ~/configs:/etc/configs:ro,z
      - type: bind
        source: ./static
        target: /static
        read_only: true
        consistency: cached
        bind: {propagation: rprivate, create_host_path: false, selinux: Z, recursive: readonly}
      - type: volume
        source: data
        target: /more
        volume: {nocopy: true, subpath: sub, labels: {a: b}}
      - type: tmpfs
        target: /cache
        tmpfs: {size: 100m, mode: 01777}
      - type: image
        source: example/assets
        target: /assets
        image: {subpath: www}
    volumes_from: ["base:ro", "container:legacy"]
    working_dir: /app
    x-tag: kept-by-the-loader
  provided:
    provider:
      type: awesomecloud
      options: {type: mysql, size: 256, tags: [a, b]}
  extended:
    extends: bar
    image: busybox
networks:
  front:
    driver: bridge
    driver_opts: {com.docker.network.bridge.name: br0, mtu: 1400}
    ipam:
      driver: default
      config: [{subnet: 172.16.238.0/24, gateway: 172.16.238.1, ip_range: 172.16.238.128/25, aux_addresses: {router: 172.16.238.2}}]
      options: {foo: bar}
    attachable: true
    enable_ipv4: true
    enable_ipv6: false
    internal: false
    labels: [com.example.net=front]
  back:
  outside:
    external: true
    name: corp-net
volumes:
  data:
  logs:
    driver: local
    driver_opts: {type: none, o: bind, device: /srv/logs}
    labels: {com.example.vol: logs}
  old:
    external:
      name: legacy-volume
secrets:
  db_password: {file: ./db_password.txt}
  api_key: {environment: API_KEY}
  token: {external: true, name: ci-token}
  npmrc: {file: ~/.npmrc}
configs:
  nginx_conf: {file: ./nginx.conf, labels: {a: b}}
  app_conf: {content: "debug = true\n"}
models:
  llm: {model: ai/smollm2, context_size: 4096, runtime_flags: [--no-prefill]}
"#;

#[test]
fn every_key_of_the_specification_is_read() {
    let p = project(EVERYTHING).unwrap();
    assert_eq!(p.name.as_deref(), Some("everything"));
    assert_eq!(p.version.as_deref(), Some("3.9"));
    assert_eq!(p.include.len(), 2);
    let web = &p.services["web"];
    assert_eq!(
        web.restart.as_deref(),
        Some("unless-stopped"),
        "merge key applied"
    );
    assert_eq!(
        web.command.as_ref().unwrap().args(),
        ["npm", "run", "start dev"]
    );
    assert_eq!(web.environment["PORT"].as_deref(), Some("3000"));
    assert_eq!(web.environment["FROM_SHELL"], None);
    assert_eq!(web.ports.len(), 6, "3000, 3001, 3002, 8080:80, 9229, long");
    assert_eq!(web.volumes.len(), 8);
    assert_eq!(web.replicas(), 2);
    assert_eq!(web.cpu_rt_runtime, Some(950_000));
    assert_eq!(web.memswap_limit, Some(2 << 30));
    assert_eq!(web.labels["com.example.number"], "42");
    assert_eq!(web.labels["com.example.empty"], "");
    assert_eq!(web.gpus[0].count, Some(-1));
    assert_eq!(web.group_add, ["mail", "1001"]);
    assert_eq!(web.extra_hosts.0["multi"], ["10.0.0.1", "::1"]);
    assert_eq!(web.tmpfs, ["/run"]);
    assert_eq!(web.dns, ["8.8.8.8"]);
    assert_eq!(web.develop.as_ref().unwrap().watch.len(), 5);
    assert_eq!(
        web.secrets[0].target.as_deref(),
        Some("/run/secrets/db_password")
    );
    assert_eq!(web.secrets[1].mode, Some(FileMode(0o400)));
    assert_eq!(web.models.keys().collect::<Vec<_>>(), ["llm"]);
    assert_eq!(
        web.healthcheck.as_ref().unwrap().interval,
        Some(Duration::from_secs(90))
    );
    let provided = &p.services["provided"];
    assert_eq!(
        provided.provider.as_ref().unwrap().options["tags"],
        ["a", "b"]
    );
    assert_eq!(provided.provider.as_ref().unwrap().options["size"], ["256"]);
    assert_eq!(
        p.services["extended"].extends.as_ref().unwrap().service,
        "bar"
    );
    assert_eq!(p.services["bar"].build.as_ref().unwrap().dockerfile, None);
    assert_eq!(p.networks["outside"].name.as_deref(), Some("corp-net"));
    assert_eq!(p.networks["back"], Network::default());
    assert_eq!(p.volumes["old"].name.as_deref(), Some("legacy-volume"));
    assert!(p.volumes["old"].external);
    assert_eq!(p.models["llm"].context_size, Some(4096));
}

#[test]
fn a_normalized_project_round_trips() {
    let p = project(EVERYTHING).unwrap();
    let yaml = serde_yaml::to_string(&p).unwrap();
    let again = project(&yaml).unwrap();
    // `version`, `include` and `extends` are not printed; the rest is the same.
    let expected = Project {
        version: None,
        include: Vec::new(),
        services: p
            .services
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    Service {
                        extends: None,
                        ..s.clone()
                    },
                )
            })
            .collect(),
        ..p.clone()
    };
    assert_eq!(again, expected);
    let json = serde_json::to_string(&p).unwrap();
    let from_json: serde_yaml::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        serde_path_to_error::deserialize::<_, Project>(from_json).unwrap(),
        expected
    );
}

#[test]
fn a_normalized_service_prints_the_long_forms() {
    let p = project(
        r#"
services:
  api:
    image: api
    command: echo "a b"
    environment: [A=1, B]
    ports: ["127.0.0.1:8080:80"]
    volumes: ["./src:/app:ro", "data:/data"]
    depends_on: [db]
    healthcheck: {test: curl -f localhost, interval: 90s, timeout: 500ms}
    stop_grace_period: 1h
    shm_size: 64m
    extra_hosts: ["b:2.2.2.2", "a=1.1.1.1"]
  db:
    image: postgres
volumes:
  data:
"#,
    )
    .unwrap();
    let printed = serde_yaml::to_string(&p.services["api"]).unwrap();
    assert_eq!(
        printed,
        r"command:
- echo
- a b
depends_on:
  db:
    condition: service_started
    required: true
environment:
  A: '1'
  B: null
extra_hosts:
- a=1.1.1.1
- b=2.2.2.2
healthcheck:
  test:
  - CMD-SHELL
  - curl -f localhost
  interval: 1m30s
  timeout: 500ms
image: api
ports:
- mode: ingress
  host_ip: 127.0.0.1
  target: 80
  published: '8080'
  protocol: tcp
shm_size: '67108864'
stop_grace_period: 1h0m0s
volumes:
- type: bind
  source: ./src
  target: /app
  read_only: true
  bind:
    create_host_path: true
- type: volume
  source: data
  target: /data
  volume: {}
"
    );
    assert_eq!(serde_yaml::to_string(&p.volumes).unwrap(), "data: {}\n");
}

#[test]
fn extensions_are_printed_back() {
    let mut p = project("services: {a: {image: x}}").unwrap();
    p.extensions
        .insert("x-top".into(), serde_yaml::Value::Bool(true));
    p.services["a"]
        .extensions
        .insert("x-svc".into(), serde_yaml::Value::String("v".into()));
    assert_eq!(
        serde_yaml::to_string(&p).unwrap(),
        "services:\n  a:\n    image: x\n    x-svc: v\nx-top: true\n"
    );
}

#[test]
fn unknown_keys_fail_with_the_path() {
    let err = project("services: {a: {image: x, dependson: [b]}}").unwrap_err();
    assert!(
        err.starts_with("services.a.dependson: unknown field `dependson`, expected one of"),
        "{err}"
    );
    assert!(err.contains("`depends_on`"), "{err}");
    let err = project("service: {}").unwrap_err();
    assert!(err.starts_with("service: unknown field `service`"), "{err}");
    let err =
        project("services: {a: {ports: [{target: 80, published: 80, proto: udp}]}}").unwrap_err();
    assert!(
        err.starts_with("services.a.ports[0].proto: unknown field `proto`"),
        "{err}"
    );
    let err = project("volumes: {v: {external: {nam: x}}}").unwrap_err();
    assert!(
        err.starts_with("volumes.v.external.nam: unknown field `nam`"),
        "{err}"
    );
}

#[test]
fn null_entries_are_defaults() {
    let p = project("services: {a: }\nvolumes: {db: }\nnetworks: {n: }").unwrap();
    assert_eq!(p.services["a"], Service::default());
    assert_eq!(p.volumes["db"], Volume::default());
    assert_eq!(p.networks["n"], Network::default());
    let p = project("services:").unwrap();
    assert!(p.services.is_empty());
}

// Every compose file of the awesome-compose corpus reads without error
/// (its values that need interpolation aside). Skipped when the corpus is
/// not next to the checkout.
#[test]
fn awesome_compose_corpus_reads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/awesome-compose");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut read = 0;
    for entry in entries.flatten() {
        for name in [
            "compose.yaml",
            "compose.yml",
            "docker-compose.yml",
            "docker-compose.yaml",
        ] {
            let path = entry.path().join(name);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            read += 1;
            if let Err(err) = project(&text) {
                assert!(err.contains("${"), "{}: {err}", path.display());
            }
        }
    }
    assert!(read > 20, "read only {read} files");
}

#[test]
fn schema_describes_the_file_format() {
    let schema = json_schema();
    let text = serde_json::to_string_pretty(&schema).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["title"], "Compose file (muster)");
    assert_eq!(schema["patternProperties"]["^x-"], serde_json::json!({}));
    for key in [
        "version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
    ] {
        assert!(schema["properties"].get(key).is_some(), "no {key}");
    }
    let service = &schema["definitions"]["Service"];
    assert_eq!(service["additionalProperties"], false);
    assert_eq!(service["patternProperties"]["^x-"], serde_json::json!({}));
    assert!(service["properties"].get("extensions").is_none());
    // Every service key of the Compose Specification.
    let spec_keys = "develop deploy annotations attach build blkio_config cap_add cap_drop cgroup \
        cgroup_parent command configs container_name cpu_count cpu_percent cpu_shares cpu_quota \
        cpu_period cpu_rt_period cpu_rt_runtime cpus cpuset credential_spec depends_on \
        device_cgroup_rules devices dns dns_opt dns_search domainname entrypoint env_file label_file \
        environment expose extends provider external_links extra_hosts gpus group_add healthcheck \
        hostname image init ipc isolation labels links logging mac_address mem_limit mem_reservation \
        mem_swappiness memswap_limit network_mode models networks oom_kill_disable oom_score_adj pid \
        pids_limit platform ports post_start pre_stop privileged profiles pull_policy \
        pull_refresh_after read_only restart runtime scale security_opt shm_size secrets sysctls \
        stdin_open stop_grace_period stop_signal storage_opt tmpfs tty ulimits use_api_socket user \
        uts userns_mode volumes volumes_from working_dir";
    for key in spec_keys.split_whitespace() {
        assert!(
            service["properties"].get(key).is_some(),
            "service key {key} missing"
        );
    }
    // Short and long forms both described, with doc comments.
    let ports = &service["properties"]["ports"];
    assert!(
        ports["description"]
            .as_str()
            .unwrap()
            .starts_with("Ports to publish")
    );
    assert!(text.contains("Short syntax: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"));
    assert!(text.contains("\"Network\""));
    assert_eq!(
        schema["definitions"]["Volume"]["type"],
        serde_json::json!(["object", "null"])
    );
    assert!(schema["definitions"]["Volume"]["properties"]["external"].is_object());
}
