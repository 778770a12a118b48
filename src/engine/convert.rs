//! Translation between muster's engine types and the Docker Engine API's.
//!
//! Kept apart from the calls themselves so that the mapping (which is where
//! compatibility bugs live: port keys, bind strings, nanosecond durations,
//! zero timestamps) is plain functions with unit tests, and so that bollard's
//! types stop here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models as api;

use super::error::EngineError;
use super::types::{
    ApiVersion, ContainerDetails, ContainerSpec, ContainerState, ContainerStatus, ContainerSummary,
    EngineEvent, EventAction, EventObject, Health, HealthProbe, HealthStatus, HealthcheckSpec,
    ImageDetails, LabelFilter, MountInfo, MountKind, NetworkAttachment, NetworkEndpoint,
    NetworkSummary, PortMapping, Protocol, RestartPolicy, VolumeSummary,
};

/// The API version from which the engine knows `start_interval`.
const START_INTERVAL_API: ApiVersion = ApiVersion::new(1, 44);

/// Parses an RFC 3339 timestamp as the engine writes them
/// (`2024-05-01T10:00:00.123456789Z`). The engine's zero time
/// (`0001-01-01T00:00:00Z`, "never") and anything before 1970 give `None`.
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let sep =
        |at: usize, allowed: &[u8]| text.as_bytes().get(at).is_some_and(|b| allowed.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = text.get(19..)?;
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut padded: String = fraction[..digits.min(9)].to_owned();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `seconds.nanoseconds` since the epoch, as the events API takes `since`.
pub(crate) fn unix_time(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", since.as_secs(), since.subsec_nanos())
}

/// Whole seconds since the epoch, saturating, as the logs API takes `since`.
pub(crate) fn unix_seconds(time: SystemTime) -> i32 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    i32::try_from(since.as_secs()).unwrap_or(i32::MAX)
}

/// Nanoseconds, saturating, as healthchecks take durations.
fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Whole seconds, rounded up, as stop timeouts are given.
pub(crate) fn whole_seconds(duration: Duration) -> i64 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The `filters` query value for label conditions.
pub(crate) fn label_filters(labels: &[LabelFilter]) -> HashMap<String, Vec<String>> {
    let mut filters = HashMap::new();
    if !labels.is_empty() {
        filters.insert(
            "label".to_owned(),
            labels.iter().map(ToString::to_string).collect(),
        );
    }
    filters
}

/// `containers labelled a=b, c`, for error messages about lists.
pub(crate) fn describe_list(kind: &str, labels: &[LabelFilter]) -> String {
    if labels.is_empty() {
        kind.to_owned()
    } else {
        let labels: Vec<String> = labels.iter().map(ToString::to_string).collect();
        format!("{kind} labelled {}", labels.join(", "))
    }
}

fn sorted(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

/// The create request for `spec`. The first of `spec.networks` is attached
/// here; the caller connects the others after the container exists.
pub(crate) fn container_body(
    spec: &ContainerSpec,
    api_version: ApiVersion,
) -> Result<api::ContainerCreateBody, EngineError> {
    let invalid = |message: &str| EngineError::InvalidSpec {
        object: format!("container {}", spec.name),
        message: message.to_owned(),
    };
    if spec.name.is_empty() {
        return Err(invalid("the container has no name"));
    }
    if spec.image.is_empty() {
        return Err(invalid("the container has no image"));
    }
    if spec.network_mode.is_some() && !spec.networks.is_empty() {
        return Err(invalid("network_mode and networks cannot both be set"));
    }

    let mut exposed = BTreeSet::new();
    let mut bindings: BTreeMap<String, Vec<api::PortBinding>> = BTreeMap::new();
    for port in &spec.ports {
        let key = format!("{}/{}", port.container_port, port.protocol);
        exposed.insert(key.clone());
        if let Some(published) = &port.published {
            bindings.entry(key).or_default().push(api::PortBinding {
                host_ip: published.host_ip.clone(),
                host_port: (published.host_ports.start != 0)
                    .then(|| published.host_ports.to_string()),
            });
        }
    }

    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for mount in &spec.mounts {
        match &mount.kind {
            MountKind::Bind {
                source,
                create_host_path: true,
            } if !source.to_string_lossy().contains(':') && !mount.target.contains(':') => {
                let mode = if mount.read_only { ":ro" } else { "" };
                binds.push(format!("{}:{}{mode}", source.display(), mount.target));
            }
            MountKind::Bind { source, .. } => mounts.push(api::Mount {
                target: Some(mount.target.clone()),
                source: Some(source.to_string_lossy().into_owned()),
                typ: Some(api::MountType::BIND),
                read_only: Some(mount.read_only),
                ..Default::default()
            }),
            MountKind::Volume { source, no_copy } => mounts.push(api::Mount {
                target: Some(mount.target.clone()),
                source: source.clone(),
                typ: Some(api::MountType::VOLUME),
                read_only: Some(mount.read_only),
                volume_options: no_copy.then(|| api::MountVolumeOptions {
                    no_copy: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            MountKind::Tmpfs { size, mode } => mounts.push(api::Mount {
                target: Some(mount.target.clone()),
                typ: Some(api::MountType::TMPFS),
                read_only: Some(mount.read_only),
                tmpfs_options: Some(api::MountTmpfsOptions {
                    size_bytes: size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                    mode: mode.map(i64::from),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }

    let network_mode = spec
        .network_mode
        .clone()
        .or_else(|| spec.networks.first().map(|n| n.network.clone()));
    let networking_config = spec.networks.first().map(|first| api::NetworkingConfig {
        endpoints_config: Some(HashMap::from([(first.network.clone(), endpoint(first))])),
    });

    let restart_policy = match spec.restart {
        RestartPolicy::No => None,
        RestartPolicy::Always => Some((api::RestartPolicyNameEnum::ALWAYS, None)),
        RestartPolicy::UnlessStopped => Some((api::RestartPolicyNameEnum::UNLESS_STOPPED, None)),
        RestartPolicy::OnFailure { max_retries } => Some((
            api::RestartPolicyNameEnum::ON_FAILURE,
            max_retries.map(i64::from),
        )),
    }
    .map(|(name, maximum_retry_count)| api::RestartPolicy {
        name: Some(name),
        maximum_retry_count,
    });

    let healthcheck = spec.healthcheck.as_ref().map(|h| api::HealthConfig {
        test: non_empty(&h.test),
        interval: h.interval.map(nanos),
        timeout: h.timeout.map(nanos),
        retries: h.retries.map(i64::from),
        start_period: h.start_period.map(nanos),
        start_interval: h
            .start_interval
            .filter(|_| api_version >= START_INTERVAL_API)
            .map(nanos),
    });

    let host_config = api::HostConfig {
        binds: non_empty(&binds),
        mounts: (!mounts.is_empty()).then_some(mounts),
        port_bindings: (!bindings.is_empty()).then(|| {
            bindings
                .into_iter()
                .map(|(key, list)| (key, Some(list)))
                .collect()
        }),
        network_mode,
        restart_policy,
        init: spec.init,
        extra_hosts: non_empty(&spec.extra_hosts),
        cap_add: non_empty(&spec.cap_add),
        cap_drop: non_empty(&spec.cap_drop),
        privileged: spec.privileged.then_some(true),
        readonly_rootfs: spec.read_only.then_some(true),
        shm_size: spec.shm_size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        ulimits: (!spec.ulimits.is_empty()).then(|| {
            spec.ulimits
                .iter()
                .map(|u| api::ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect()
        }),
        ..Default::default()
    };

    Ok(api::ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.cmd.clone(),
        entrypoint: spec.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                // The engine resets the image's entrypoint only for [""].
                vec![String::new()]
            } else {
                e.clone()
            }
        }),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: (!spec.labels.is_empty()).then(|| {
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        exposed_ports: (!exposed.is_empty()).then(|| exposed.into_iter().collect()),
        tty: Some(spec.tty),
        open_stdin: Some(spec.stdin_open),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: spec.stop_timeout.map(whole_seconds),
        healthcheck,
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    })
}

/// The endpoint settings for attaching to one network.
pub(crate) fn endpoint(attachment: &NetworkAttachment) -> api::EndpointSettings {
    api::EndpointSettings {
        aliases: non_empty(&attachment.aliases),
        ipam_config: attachment
            .ipv4_address
            .as_ref()
            .map(|ip| api::EndpointIpamConfig {
                ipv4_address: Some(ip.clone()),
                ..Default::default()
            }),
        ..Default::default()
    }
}

/// Health from a list status such as `Up 3 seconds (health: starting)`.
fn health_from_status(status: &str) -> Option<HealthStatus> {
    if status.contains("(health: starting)") {
        Some(HealthStatus::Starting)
    } else if status.contains("(unhealthy)") {
        Some(HealthStatus::Unhealthy)
    } else if status.contains("(healthy)") {
        Some(HealthStatus::Healthy)
    } else {
        None
    }
}

fn protocol(word: &str) -> Protocol {
    word.parse().unwrap_or_default()
}

pub(crate) fn container_summary(c: api::ContainerSummary) -> ContainerSummary {
    let status = c.status.unwrap_or_default();
    let health = c
        .health
        .and_then(|h| h.status)
        .and_then(|s| HealthStatus::from_engine(s.as_ref()))
        .or_else(|| health_from_status(&status));
    let mut ports: Vec<PortMapping> = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| PortMapping {
            container_port: p.private_port,
            protocol: p.typ.map_or(Protocol::Tcp, |t| protocol(t.as_ref())),
            host_ip: p.ip.filter(|ip| !ip.is_empty()),
            host_port: p.public_port.filter(|port| *port != 0),
        })
        .collect();
    ports.sort();
    ports.dedup();
    ContainerSummary {
        id: c.id.unwrap_or_default(),
        names: c
            .names
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.trim_start_matches('/').to_owned())
            .collect(),
        image: c.image.unwrap_or_default(),
        image_id: c.image_id.unwrap_or_default(),
        labels: sorted(c.labels),
        state: ContainerState::from_engine(&c.state.map(|s| s.to_string()).unwrap_or_default()),
        status,
        health,
        ports,
        created: c
            .created
            .and_then(|secs| u64::try_from(secs).ok())
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
    }
}

/// Ports from the engine's `{"80/tcp": [{"HostIp": ..., "HostPort": ...}]}`.
fn port_map(map: Option<api::PortMap>) -> Vec<PortMapping> {
    let mut ports = Vec::new();
    for (key, bindings) in map.unwrap_or_default() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse() else {
            continue;
        };
        let protocol = protocol(proto);
        match bindings {
            Some(bindings) if !bindings.is_empty() => {
                for binding in bindings {
                    ports.push(PortMapping {
                        container_port,
                        protocol,
                        host_ip: binding.host_ip.filter(|ip| !ip.is_empty()),
                        host_port: binding
                            .host_port
                            .and_then(|p| p.parse().ok())
                            .filter(|p| *p != 0),
                    });
                }
            }
            _ => ports.push(PortMapping {
                container_port,
                protocol,
                host_ip: None,
                host_port: None,
            }),
        }
    }
    ports.sort();
    ports
}

fn healthcheck(h: api::HealthConfig) -> HealthcheckSpec {
    let duration = |ns: Option<i64>| {
        ns.filter(|ns| *ns > 0)
            .map(|ns| Duration::from_nanos(u64::try_from(ns).unwrap_or_default()))
    };
    HealthcheckSpec {
        test: h.test.unwrap_or_default(),
        interval: duration(h.interval),
        timeout: duration(h.timeout),
        retries: h
            .retries
            .filter(|r| *r > 0)
            .and_then(|r| u32::try_from(r).ok()),
        start_period: duration(h.start_period),
        start_interval: duration(h.start_interval),
    }
}

pub(crate) fn container_details(c: api::ContainerInspectResponse) -> ContainerDetails {
    let state = c.state.unwrap_or_default();
    let health = state.health.and_then(|h| {
        let status = HealthStatus::from_engine(h.status?.as_ref())?;
        Some(Health {
            status,
            failing_streak: h
                .failing_streak
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or_default(),
            log: h
                .log
                .unwrap_or_default()
                .into_iter()
                .map(|p| HealthProbe {
                    start: p.start.as_deref().and_then(parse_time),
                    end: p.end.as_deref().and_then(parse_time),
                    exit_code: p.exit_code.unwrap_or(-1),
                    output: p.output.unwrap_or_default(),
                })
                .collect(),
        })
    });
    let status = ContainerStatus {
        state: ContainerState::from_engine(
            &state.status.map(|s| s.to_string()).unwrap_or_default(),
        ),
        running: state.running.unwrap_or_default(),
        paused: state.paused.unwrap_or_default(),
        restarting: state.restarting.unwrap_or_default(),
        oom_killed: state.oom_killed.unwrap_or_default(),
        dead: state.dead.unwrap_or_default(),
        pid: state.pid.unwrap_or_default(),
        exit_code: state.exit_code.unwrap_or_default(),
        error: state.error.unwrap_or_default(),
        started_at: state.started_at.as_deref().and_then(parse_time),
        finished_at: state.finished_at.as_deref().and_then(parse_time),
        health,
    };
    let config = c.config.unwrap_or_default();
    let labels = sorted(config.labels);
    let network_settings = c.network_settings.unwrap_or_default();
    ContainerDetails {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        image_id: c.image.unwrap_or_default(),
        created: c.created.as_deref().and_then(parse_time),
        config_hash: labels.get("com.docker.compose.config-hash").cloned(),
        labels,
        status,
        restart_count: c.restart_count.unwrap_or_default(),
        ports: port_map(network_settings.ports),
        networks: network_settings
            .networks
            .unwrap_or_default()
            .into_iter()
            .map(|(name, e)| {
                (
                    name,
                    NetworkEndpoint {
                        network_id: e.network_id.unwrap_or_default(),
                        aliases: e.aliases.unwrap_or_default(),
                        ip_address: e.ip_address.filter(|ip| !ip.is_empty()),
                    },
                )
            })
            .collect(),
        mounts: c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| MountInfo {
                kind: m.typ.unwrap_or_default(),
                name: m.name.filter(|n| !n.is_empty()),
                source: m.source.unwrap_or_default(),
                destination: m.destination.unwrap_or_default(),
                read_write: m.rw.unwrap_or_default(),
            })
            .collect(),
        env: config.env.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        entrypoint: config.entrypoint.unwrap_or_default(),
        healthcheck: config.healthcheck.map(healthcheck),
    }
}

pub(crate) fn event(e: api::EventMessage) -> EngineEvent {
    let raw_action = e.action.unwrap_or_default();
    let actor = e.actor.unwrap_or_default();
    let time = match (e.time_nano, e.time) {
        (Some(ns), _) if ns > 0 => u64::try_from(ns)
            .ok()
            .map(|ns| UNIX_EPOCH + Duration::from_nanos(ns)),
        (_, Some(secs)) if secs > 0 => u64::try_from(secs)
            .ok()
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
        _ => None,
    };
    EngineEvent {
        object: EventObject::from_engine(&e.typ.map(|t| t.to_string()).unwrap_or_default()),
        action: EventAction::from_engine(&raw_action),
        raw_action,
        id: actor.id.unwrap_or_default(),
        attributes: sorted(actor.attributes),
        time,
    }
}

pub(crate) fn network_summary(n: api::Network) -> NetworkSummary {
    NetworkSummary {
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        driver: n.driver.unwrap_or_default(),
        labels: sorted(n.labels),
        internal: n.internal.unwrap_or_default(),
        attachable: n.attachable.unwrap_or_default(),
    }
}

pub(crate) fn volume_summary(v: api::Volume) -> VolumeSummary {
    VolumeSummary {
        name: v.name,
        driver: v.driver,
        labels: v.labels.into_iter().collect(),
        mountpoint: v.mountpoint,
    }
}

pub(crate) fn image_details(i: api::ImageInspect) -> ImageDetails {
    let (labels, volumes) = i.config.map_or_else(Default::default, |c| {
        (sorted(c.labels), c.volumes.unwrap_or_default())
    });
    let mut volumes: Vec<String> = volumes;
    volumes.sort();
    ImageDetails {
        id: i.id.unwrap_or_default(),
        repo_tags: i.repo_tags.unwrap_or_default(),
        labels,
        created: i.created.as_deref().and_then(parse_time),
        size: i.size.unwrap_or_default(),
        volumes,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::engine::types::{MountSpec, PortRange, PortSpec, PublishedPort, Ulimit};

    #[test]
    fn timestamps_parse_like_the_engine_writes_them() {
        let t = parse_time("2024-05-01T10:00:00.123456789Z").unwrap();
        let since = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(since.as_secs(), 1_714_557_600);
        assert_eq!(since.subsec_nanos(), 123_456_789);
        let t = parse_time("2024-05-01T12:00:00.5+02:00").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_714_557_600, 500_000_000)
        );
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-05-01T10:00:00"), None);
        assert_eq!(
            unix_time(UNIX_EPOCH + Duration::new(5, 7)),
            "5.000000007".to_owned()
        );
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }

    #[test]
    fn list_status_tells_health() {
        assert_eq!(
            health_from_status("Up 2 seconds (health: starting)"),
            Some(HealthStatus::Starting)
        );
        assert_eq!(
            health_from_status("Up 2 minutes (unhealthy)"),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(
            health_from_status("Up 2 minutes (healthy)"),
            Some(HealthStatus::Healthy)
        );
        assert_eq!(health_from_status("Exited (0) 2 minutes ago"), None);
    }

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "shop-api-1".into(),
            image: "shop/api:dev".into(),
            ..Default::default()
        }
    }

    #[test]
    fn ports_are_exposed_and_published() {
        let spec = ContainerSpec {
            ports: vec![
                PortSpec {
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    published: Some(PublishedPort {
                        host_ip: Some("127.0.0.1".into()),
                        host_ports: PortRange::any(),
                    }),
                },
                PortSpec {
                    container_port: 53,
                    protocol: Protocol::Udp,
                    published: Some(PublishedPort {
                        host_ip: None,
                        host_ports: PortRange {
                            start: 8000,
                            end: 8010,
                        },
                    }),
                },
                PortSpec {
                    container_port: 9000,
                    ..Default::default()
                },
            ],
            ..spec()
        };
        let body = container_body(&spec, ApiVersion::MINIMUM).unwrap();
        assert_eq!(
            body.exposed_ports.unwrap(),
            vec!["53/udp".to_owned(), "80/tcp".into(), "9000/tcp".into()]
        );
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let http = bindings["80/tcp"].clone().unwrap();
        assert_eq!(http[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(http[0].host_port, None);
        let dns = bindings["53/udp"].clone().unwrap();
        assert_eq!(dns[0].host_port.as_deref(), Some("8000-8010"));
        assert!(!bindings.contains_key("9000/tcp"));
    }

    #[test]
    fn mounts_use_binds_only_to_create_host_paths() {
        let spec = ContainerSpec {
            mounts: vec![
                MountSpec {
                    target: "/src".into(),
                    kind: MountKind::Bind {
                        source: PathBuf::from("/home/ann/shop"),
                        create_host_path: true,
                    },
                    read_only: true,
                },
                MountSpec {
                    target: "/etc/app.conf".into(),
                    kind: MountKind::Bind {
                        source: PathBuf::from("/home/ann/app.conf"),
                        create_host_path: false,
                    },
                    read_only: false,
                },
                MountSpec {
                    target: "/data".into(),
                    kind: MountKind::Volume {
                        source: Some("shop_data".into()),
                        no_copy: true,
                    },
                    read_only: false,
                },
                MountSpec {
                    target: "/tmp".into(),
                    kind: MountKind::Tmpfs {
                        size: Some(1 << 20),
                        mode: Some(0o1777),
                    },
                    read_only: false,
                },
            ],
            ..spec()
        };
        let host = container_body(&spec, ApiVersion::MINIMUM)
            .unwrap()
            .host_config
            .unwrap();
        assert_eq!(
            host.binds.unwrap(),
            vec!["/home/ann/shop:/src:ro".to_owned()]
        );
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].typ, Some(api::MountType::BIND));
        assert_eq!(mounts[1].source.as_deref(), Some("shop_data"));
        assert_eq!(
            mounts[1].volume_options.as_ref().unwrap().no_copy,
            Some(true)
        );
        let tmpfs = mounts[2].tmpfs_options.as_ref().unwrap();
        assert_eq!(tmpfs.mode, Some(0o1777));
        assert_eq!(tmpfs.size_bytes, Some(1 << 20));
    }

    #[test]
    fn healthcheck_durations_are_nanoseconds_and_start_interval_needs_1_44() {
        let spec = ContainerSpec {
            healthcheck: Some(HealthcheckSpec {
                test: vec!["CMD-SHELL".into(), "true".into()],
                interval: Some(Duration::from_millis(200)),
                timeout: Some(Duration::from_secs(1)),
                retries: Some(3),
                start_period: None,
                start_interval: Some(Duration::from_millis(50)),
            }),
            ..spec()
        };
        let old = container_body(&spec, ApiVersion::MINIMUM)
            .unwrap()
            .healthcheck
            .unwrap();
        assert_eq!(old.interval, Some(200_000_000));
        assert_eq!(old.timeout, Some(1_000_000_000));
        assert_eq!(old.retries, Some(3));
        assert_eq!(old.start_interval, None);
        let new = container_body(&spec, ApiVersion::new(1, 44))
            .unwrap()
            .healthcheck
            .unwrap();
        assert_eq!(new.start_interval, Some(50_000_000));
    }

    #[test]
    fn first_network_at_create_and_the_rest_are_left_to_connect() {
        let spec = ContainerSpec {
            networks: vec![
                NetworkAttachment {
                    network: "shop_default".into(),
                    aliases: vec!["api".into()],
                    ipv4_address: None,
                },
                NetworkAttachment {
                    network: "shop_back".into(),
                    ..Default::default()
                },
            ],
            entrypoint: Some(vec![]),
            restart: RestartPolicy::OnFailure {
                max_retries: Some(2),
            },
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            }],
            stop_timeout: Some(Duration::from_millis(1500)),
            ..spec()
        };
        let body = container_body(&spec, ApiVersion::MINIMUM).unwrap();
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(endpoints.len(), 1);
        assert_eq!(
            endpoints["shop_default"].aliases,
            Some(vec!["api".to_owned()])
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("shop_default"));
        assert_eq!(host.restart_policy.unwrap().maximum_retry_count, Some(2));
        assert_eq!(body.entrypoint, Some(vec![String::new()]));
        assert_eq!(body.stop_timeout, Some(2));

        let both = ContainerSpec {
            network_mode: Some("host".into()),
            ..spec
        };
        let err = container_body(&both, ApiVersion::MINIMUM).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid container shop-api-1: network_mode and networks cannot both be set"
        );
    }

    #[test]
    fn port_maps_read_back_with_host_ports() {
        let map: api::PortMap = HashMap::from([
            (
                "80/tcp".to_owned(),
                Some(vec![api::PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some("49153".into()),
                }]),
            ),
            ("9000/tcp".to_owned(), None),
        ]);
        let ports = port_map(Some(map));
        assert_eq!(
            ports,
            vec![
                PortMapping {
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(49153),
                },
                PortMapping {
                    container_port: 9000,
                    protocol: Protocol::Tcp,
                    host_ip: None,
                    host_port: None,
                },
            ]
        );
    }
}
