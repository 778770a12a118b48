//! [`DockerEngine`]: the [`Engine`] trait on the Docker Engine API, through
//! bollard.
//!
//! This is the only file that calls bollard. It connects as the docker CLI
//! does (see `connect.rs`), negotiates the API version, and sends every
//! request under the negotiated version's path prefix (`/v1.41/...`): bollard
//! 0.21 sends unversioned paths, which an engine serves with its own newest
//! API, so without the prefix muster would speak whatever the engine speaks.
//! Errors are mapped to [`EngineError`] here, with the operation and the
//! object, keeping the engine's message.

use std::fmt;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models as api;
use bollard::query_parameters as query;
use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use futures_util::StreamExt;

use super::connect::{Endpoint, EngineConfig, os_message};
use super::convert::{self, describe_list, label_filters};
use super::error::{EngineError, seconds};
use super::types::{
    ApiVersion, BuildContext, BuildOutput, BuildSpec, ContainerDetails, ContainerSpec,
    ContainerSummary, EngineEvent, EngineVersion, EventFilter, ExecOutput, ExecSpec, ImageDetails,
    LabelFilter, LogChunk, LogOptions, LogStream, NetworkAttachment, NetworkSpec, NetworkSummary,
    RemoveContainerOptions, VolumeSpec, VolumeSummary,
};
use super::{Engine, EngineFuture, EngineStream};

/// How long a streaming request (logs, events, wait) may take to start
/// answering: the engine may hold the headers until there is something to say.
const STREAM_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most output [`Engine::exec`] keeps.
const MAX_EXEC_OUTPUT: usize = 1 << 20;

/// The Docker Engine API (Docker Engine 20.10 and newer), through bollard.
///
/// Cloning is cheap and clones share the connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), muster::engine::EngineError> {
/// use muster::engine::{DockerEngine, Engine, LabelFilter};
///
/// let engine = DockerEngine::connect().await?;
/// let shop = [LabelFilter::equals("com.docker.compose.project", "shop")];
/// for container in engine.list_containers(&shop).await? {
///     println!("{} {}", container.name(), container.status);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DockerEngine {
    docker: Docker,
    address: String,
    negotiated: ApiVersion,
    request_timeout: Duration,
}

impl fmt::Debug for DockerEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerEngine")
            .field("address", &self.address)
            .field("api_version", &self.negotiated)
            .finish_non_exhaustive()
    }
}

/// The newest API version bollard knows.
fn client_api_version() -> ApiVersion {
    let v = API_DEFAULT_VERSION;
    ApiVersion::new(
        u32::try_from(v.major_version).unwrap_or(1),
        u32::try_from(v.minor_version).unwrap_or(41),
    )
}

/// An error and its causes, as one line, without repeats or `(os error N)`.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = match e.downcast_ref::<std::io::Error>() {
            Some(io) => os_message(io),
            None => e.to_string(),
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Puts `/v{version}` in front of the request's path, replacing any version
/// already there.
fn versioned(mut request: BollardRequest, prefix: &str) -> BollardRequest {
    let Some(path_and_query) = request.uri().path_and_query() else {
        return request;
    };
    let text = path_and_query.as_str();
    let rest = match text.strip_prefix("/v") {
        Some(after) => {
            let digits = after
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(after.len());
            if digits > 0 && after[digits..].starts_with('/') {
                &after[digits..]
            } else {
                text
            }
        }
        None => text,
    };
    let new = format!("{prefix}{rest}");
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = http::uri::PathAndQuery::try_from(new) {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

fn is_missing_image(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("no such image") || message.contains("image not known")
}

impl DockerEngine {
    /// Connects to the engine that the environment names (`DOCKER_HOST`,
    /// `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`; the local socket by default)
    /// and negotiates the API version.
    ///
    /// # Errors
    ///
    /// [`EngineError::Unreachable`] within about a second when nothing
    /// answers there, naming the address and what to check;
    /// [`EngineError::InvalidHost`] for an address or TLS setting that
    /// cannot be used; [`EngineError::UnsupportedApi`] for an engine older
    /// than API 1.41.
    pub async fn connect() -> Result<Self, EngineError> {
        Self::connect_with(&EngineConfig::from_env()?).await
    }

    /// Connects to the engine `config` describes. See [`connect`](Self::connect).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(config: &EngineConfig) -> Result<Self, EngineError> {
        let endpoint = Endpoint::parse(&config.host, config.tls.is_some())?;
        let address = endpoint.display();
        let note = config.source_note();
        let unreachable = |reason: String, hint: &str| EngineError::Unreachable {
            address: address.clone(),
            reason,
            hint: if note.is_empty() {
                hint.to_owned()
            } else {
                format!("{hint} {note}")
            },
        };
        let invalid = |reason: String| EngineError::InvalidHost {
            address: config.host.clone(),
            reason,
        };
        // Settings first: a missing certificate is not an unreachable engine.
        let cert_path = match &endpoint {
            Endpoint::Tcp { tls: true, .. } => {
                let cert_path = config.tls.as_ref().map_or_else(
                    || {
                        std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                            .join(".docker")
                    },
                    |tls| tls.cert_path.clone(),
                );
                for file in ["ca.pem", "cert.pem", "key.pem"] {
                    let path = cert_path.join(file);
                    if !path.is_file() {
                        return Err(invalid(format!(
                            "TLS is on (DOCKER_TLS_VERIFY), but {} is missing; set \
                             DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem",
                            path.display()
                        )));
                    }
                }
                Some(cert_path)
            }
            _ => None,
        };
        endpoint
            .probe(config.connect_timeout)
            .await
            .map_err(|(reason, hint)| unreachable(reason, hint))?;

        let secs = config.request_timeout.as_secs().max(1);
        let docker = match (&endpoint, &cert_path) {
            (Endpoint::Unix(path), _) => {
                Docker::connect_with_unix(&path.to_string_lossy(), secs, API_DEFAULT_VERSION)
            }
            (Endpoint::Tcp { .. }, None) => {
                Docker::connect_with_http(&address, secs, API_DEFAULT_VERSION)
            }
            (Endpoint::Tcp { .. }, Some(cert_path)) => Docker::connect_with_ssl(
                &address,
                &cert_path.join("key.pem"),
                &cert_path.join("cert.pem"),
                &cert_path.join("ca.pem"),
                secs,
                API_DEFAULT_VERSION,
            ),
        }
        .map_err(|e| invalid(chain(&e)))?;

        let tls_hint = cert_path.as_ref().map(|cert_path| {
            format!(
                "Are the certificates in {} the engine's?",
                cert_path.display()
            )
        });
        let answer_hint = tls_hint
            .as_deref()
            .unwrap_or("Is a Docker engine listening there?");
        let version = match tokio::time::timeout(config.handshake_timeout, docker.version()).await {
            Err(_) => {
                return Err(unreachable(
                    format!(
                        "it accepted the connection but did not answer within {}",
                        seconds(config.handshake_timeout)
                    ),
                    "Is the engine stuck or overloaded?",
                ));
            }
            Ok(Err(e)) => return Err(unreachable(chain(&e), answer_hint)),
            Ok(Ok(version)) => version,
        };
        let api_version: ApiVersion = version
            .api_version
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|reason| unreachable(reason, answer_hint))?;
        if api_version < ApiVersion::MINIMUM {
            return Err(EngineError::UnsupportedApi {
                address,
                api_version,
                minimum: ApiVersion::MINIMUM,
            });
        }
        let negotiated = api_version.min(client_api_version());
        let prefix = format!("/v{negotiated}");
        let docker = docker.with_request_modifier(move |request| versioned(request, &prefix));
        Ok(Self {
            docker,
            address,
            negotiated,
            request_timeout: Duration::from_secs(secs),
        })
    }

    /// The engine's address, as `unix:///var/run/docker.sock`.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The API version muster speaks with this engine.
    #[must_use]
    pub fn api_version(&self) -> ApiVersion {
        self.negotiated
    }

    /// The underlying bollard client, for what the [`Engine`] trait does not
    /// cover yet (image builds). Requests through it use the negotiated API
    /// version too.
    #[must_use]
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// A client whose requests may take `extra` longer than usual to answer.
    fn patient(&self, extra: Duration) -> Docker {
        self.docker
            .clone()
            .with_timeout(self.request_timeout + extra)
    }

    /// Maps a bollard error to an [`EngineError`] naming `op` and `object`.
    fn error(&self, op: &'static str, object: String, err: BollardError) -> EngineError {
        match err {
            BollardError::DockerResponseServerError {
                status_code: 404,
                message,
            } => EngineError::NotFound {
                op,
                object,
                message,
            },
            // The engine answers 403 for objects in use (a network with
            // endpoints, an endpoint that exists already).
            BollardError::DockerResponseServerError {
                status_code: 403 | 409,
                message,
            } => EngineError::Conflict {
                op,
                object,
                message,
            },
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => EngineError::Failed {
                op,
                object,
                status: Some(status_code),
                message: if message.trim().is_empty() {
                    format!("the engine answered with HTTP status {status_code}")
                } else {
                    message.trim().to_owned()
                },
            },
            BollardError::RequestTimeoutError => EngineError::Timeout {
                op,
                object,
                after: self.request_timeout,
            },
            BollardError::DockerStreamError { error } => EngineError::Failed {
                op,
                object,
                status: None,
                message: error,
            },
            err @ (BollardError::HyperResponseError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::IOError { .. }
            | BollardError::SocketNotFoundError(_)) => EngineError::Connection {
                op,
                object,
                address: self.address.clone(),
                message: chain(&err),
            },
            err => EngineError::Failed {
                op,
                object,
                status: None,
                message: chain(&err),
            },
        }
    }

    async fn connect_container(
        &self,
        container: &str,
        attachment: &NetworkAttachment,
    ) -> Result<(), EngineError> {
        let request = api::NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: Some(convert::endpoint(attachment)),
        };
        self.docker
            .connect_network(&attachment.network, request)
            .await
            .map_err(|e| {
                self.error(
                    "connect",
                    format!("container {container} to network {}", attachment.network),
                    e,
                )
            })
    }

    async fn run_exec(&self, container: &str, spec: &ExecSpec) -> Result<ExecOutput, EngineError> {
        let object = format!("`{}` in container {container}", spec.cmd.join(" "));
        if spec.cmd.is_empty() {
            return Err(EngineError::InvalidSpec {
                object: format!("command for container {container}"),
                message: "the command is empty".into(),
            });
        }
        let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
        let config = api::ExecConfig {
            attach_stdin: Some(false),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            cmd: Some(spec.cmd.clone()),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(container, config)
            .await
            .map_err(|e| self.error("run", object.clone(), e))?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| self.error("run", object.clone(), e))?;
        let StartExecResults::Attached { mut output, input } = started else {
            return Err(EngineError::Failed {
                op: "run",
                object,
                status: None,
                message: "the engine did not attach to the command's output".into(),
            });
        };

        let mut collected = Vec::new();
        let mut timed_out = false;
        loop {
            let next = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, output.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        timed_out = true;
                        break;
                    }
                },
                None => output.next().await,
            };
            match next {
                Some(Ok(chunk)) => {
                    let bytes = chunk.into_bytes();
                    let room = MAX_EXEC_OUTPUT.saturating_sub(collected.len());
                    collected.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                Some(Err(e)) => return Err(self.error("run", object, e)),
                None => break,
            }
        }
        drop(input);
        let text = String::from_utf8_lossy(&collected).into_owned();
        if timed_out {
            return Ok(ExecOutput {
                exit_code: None,
                output: text,
                timed_out: true,
            });
        }

        // The output ends a moment before the engine records the exit code.
        let mut pause = Duration::from_millis(2);
        for _ in 0..40 {
            let inspect = self
                .docker
                .inspect_exec(&exec.id)
                .await
                .map_err(|e| self.error("inspect", object.clone(), e))?;
            if inspect.running != Some(true)
                && let Some(code) = inspect.exit_code
            {
                return Ok(ExecOutput {
                    exit_code: Some(code),
                    output: text,
                    timed_out: false,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        Err(EngineError::Failed {
            op: "run",
            object,
            status: None,
            message: "its output ended but the engine reported no exit code".into(),
        })
    }
}

impl Engine for DockerEngine {
    fn ping(&self) -> EngineFuture<'_, ()> {
        Box::pin(async move {
            self.docker
                .ping()
                .await
                .map(drop)
                .map_err(|e| self.error("ping", format!("the engine at {}", self.address), e))
        })
    }

    fn version(&self) -> EngineFuture<'_, EngineVersion> {
        Box::pin(async move {
            let version = self.docker.version().await.map_err(|e| {
                self.error(
                    "ask",
                    format!("the engine at {} for its version", self.address),
                    e,
                )
            })?;
            let parse = |v: Option<String>| v.and_then(|v| v.parse::<ApiVersion>().ok());
            Ok(EngineVersion {
                version: version.version.unwrap_or_default(),
                api_version: parse(version.api_version).unwrap_or(self.negotiated),
                min_api_version: parse(version.min_api_version),
                negotiated: self.negotiated,
                os: version.os.unwrap_or_default(),
                arch: version.arch.unwrap_or_default(),
            })
        })
    }

    fn list_containers<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<ContainerSummary>> {
        Box::pin(async move {
            let options = query::ListContainersOptions {
                all: true,
                filters: Some(label_filters(labels)),
                ..Default::default()
            };
            let list = self
                .docker
                .list_containers(Some(options))
                .await
                .map_err(|e| self.error("list", describe_list("containers", labels), e))?;
            Ok(list.into_iter().map(convert::container_summary).collect())
        })
    }

    fn inspect_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, ContainerDetails> {
        Box::pin(async move {
            let details = self
                .docker
                .inspect_container(container, None::<query::InspectContainerOptions>)
                .await
                .map_err(|e| self.error("inspect", format!("container {container}"), e))?;
            Ok(convert::container_details(details))
        })
    }

    fn create_container<'a>(&'a self, spec: &'a ContainerSpec) -> EngineFuture<'a, String> {
        Box::pin(async move {
            let body = convert::container_body(spec, self.negotiated)?;
            let options = query::CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            };
            let created = match self.docker.create_container(Some(options), body).await {
                Ok(created) => created,
                Err(BollardError::DockerResponseServerError {
                    status_code: 404,
                    message,
                }) if is_missing_image(&message) => {
                    return Err(EngineError::ImageMissing {
                        container: spec.name.clone(),
                        image: spec.image.clone(),
                    });
                }
                Err(e) => return Err(self.error("create", format!("container {}", spec.name), e)),
            };
            for attachment in spec.networks.iter().skip(1) {
                if let Err(err) = self.connect_container(&created.id, attachment).await {
                    let err = match err {
                        EngineError::NotFound { op, message, .. } => EngineError::NotFound {
                            op,
                            object: format!(
                                "container {} to network {}",
                                spec.name, attachment.network
                            ),
                            message,
                        },
                        other => other,
                    };
                    // Leave nothing half-configured behind.
                    let _ = self
                        .docker
                        .remove_container(
                            &created.id,
                            Some(query::RemoveContainerOptions {
                                force: true,
                                v: true,
                                link: false,
                            }),
                        )
                        .await;
                    return Err(err);
                }
            }
            Ok(created.id)
        })
    }

    fn start_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            self.docker
                .start_container(container, None::<query::StartContainerOptions>)
                .await
                .map_err(|e| self.error("start", format!("container {container}"), e))
        })
    }

    fn stop_container<'a>(
        &'a self,
        container: &'a str,
        timeout: Option<Duration>,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let options = query::StopContainerOptions {
                t: timeout.map(|t| i32::try_from(convert::whole_seconds(t)).unwrap_or(i32::MAX)),
                signal: None,
            };
            self.patient(timeout.unwrap_or(Duration::from_secs(600)))
                .stop_container(container, Some(options))
                .await
                .map_err(|e| self.error("stop", format!("container {container}"), e))
        })
    }

    fn kill_container<'a>(
        &'a self,
        container: &'a str,
        signal: Option<&'a str>,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let options = query::KillContainerOptions {
                signal: signal.unwrap_or("SIGKILL").to_owned(),
            };
            self.docker
                .kill_container(container, Some(options))
                .await
                .map_err(|e| self.error("kill", format!("container {container}"), e))
        })
    }

    fn remove_container<'a>(
        &'a self,
        container: &'a str,
        options: RemoveContainerOptions,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let options = query::RemoveContainerOptions {
                v: options.volumes,
                force: options.force,
                link: false,
            };
            self.patient(Duration::from_secs(60))
                .remove_container(container, Some(options))
                .await
                .map_err(|e| self.error("remove", format!("container {container}"), e))
        })
    }

    fn wait_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, i64> {
        Box::pin(async move {
            let object = || format!("container {container}");
            let docker = self.docker.clone().with_timeout(STREAM_TIMEOUT);
            let options = query::WaitContainerOptions {
                condition: "not-running".into(),
            };
            let mut answers = docker.wait_container(container, Some(options));
            match answers.next().await {
                Some(Ok(answer)) => Ok(answer.status_code),
                // bollard turns a non-zero exit code into an error.
                Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
                Some(Err(e)) => Err(self.error("wait for", object(), e)),
                None => Err(EngineError::Failed {
                    op: "wait for",
                    object: object(),
                    status: None,
                    message: "the engine ended the wait without an exit code".into(),
                }),
            }
        })
    }

    fn exec<'a>(&'a self, container: &'a str, spec: &'a ExecSpec) -> EngineFuture<'a, ExecOutput> {
        Box::pin(self.run_exec(container, spec))
    }

    fn logs(&self, container: &str, options: &LogOptions) -> EngineStream<LogChunk> {
        let docker = if options.follow {
            self.docker.clone().with_timeout(STREAM_TIMEOUT)
        } else {
            self.docker.clone()
        };
        let query = query::LogsOptions {
            follow: options.follow,
            stdout: true,
            stderr: true,
            since: options.since.map_or(0, convert::unix_seconds),
            until: options.until.map_or(0, convert::unix_seconds),
            timestamps: options.timestamps,
            tail: options
                .tail
                .map_or_else(|| "all".to_owned(), |n| n.to_string()),
        };
        let engine = self.clone();
        let object = format!("container {container}");
        let stream = docker.logs(container, Some(query)).filter_map(move |item| {
            let item = match item {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    Some(Ok(LogChunk {
                        stream: LogStream::Stdout,
                        data: message,
                    }))
                }
                Ok(LogOutput::StdErr { message }) => Some(Ok(LogChunk {
                    stream: LogStream::Stderr,
                    data: message,
                })),
                Ok(LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(engine.error("read the logs of", object.clone(), e))),
            };
            std::future::ready(item)
        });
        Box::pin(stream)
    }

    fn events(&self, filter: &EventFilter) -> EngineStream<EngineEvent> {
        let docker = self.docker.clone().with_timeout(STREAM_TIMEOUT);
        let mut filters = label_filters(&filter.labels);
        if !filter.objects.is_empty() {
            filters.insert(
                "type".to_owned(),
                filter
                    .objects
                    .iter()
                    .map(|o| o.as_str().to_owned())
                    .collect(),
            );
        }
        let query = query::EventsOptions {
            since: filter.since.map(convert::unix_time),
            until: None,
            filters: Some(filters),
        };
        let engine = self.clone();
        let object = describe_list("events", &filter.labels);
        let stream = docker.events(Some(query)).map(move |item| match item {
            Ok(event) => Ok(convert::event(event)),
            Err(e) => Err(engine.error("watch", object.clone(), e)),
        });
        Box::pin(stream)
    }

    fn create_network<'a>(&'a self, spec: &'a NetworkSpec) -> EngineFuture<'a, String> {
        Box::pin(async move {
            let object = || format!("network {}", spec.name);
            let request = api::NetworkCreateRequest {
                name: spec.name.clone(),
                driver: spec.driver.clone(),
                internal: Some(spec.internal),
                attachable: Some(spec.attachable),
                enable_ipv6: spec.enable_ipv6.then_some(true),
                options: non_empty(&spec.options),
                labels: non_empty(&spec.labels),
                ..Default::default()
            };
            let created = self
                .docker
                .create_network(request)
                .await
                .map_err(|e| self.error("create", object(), e))?;
            // Before API 1.44 the engine creates a second network of the same
            // name and only warns; undo that and report the conflict.
            let warning = created.warning;
            if warning.contains("already exists") {
                let _ = self.docker.remove_network(&created.id).await;
                return Err(EngineError::Conflict {
                    op: "create",
                    object: object(),
                    message: warning,
                });
            }
            Ok(created.id)
        })
    }

    fn list_networks<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<NetworkSummary>> {
        Box::pin(async move {
            let options = query::ListNetworksOptions {
                filters: Some(label_filters(labels)),
            };
            let list = self
                .docker
                .list_networks(Some(options))
                .await
                .map_err(|e| self.error("list", describe_list("networks", labels), e))?;
            Ok(list.into_iter().map(convert::network_summary).collect())
        })
    }

    fn remove_network<'a>(&'a self, network: &'a str) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            self.docker
                .remove_network(network)
                .await
                .map_err(|e| self.error("remove", format!("network {network}"), e))
        })
    }

    fn connect_network<'a>(
        &'a self,
        container: &'a str,
        attachment: &'a NetworkAttachment,
    ) -> EngineFuture<'a, ()> {
        Box::pin(self.connect_container(container, attachment))
    }

    fn disconnect_network<'a>(
        &'a self,
        container: &'a str,
        network: &'a str,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let request = api::NetworkDisconnectRequest {
                container: container.to_owned(),
                force: Some(false),
            };
            self.docker
                .disconnect_network(network, request)
                .await
                .map_err(|e| {
                    self.error(
                        "disconnect",
                        format!("container {container} from network {network}"),
                        e,
                    )
                })
        })
    }

    fn create_volume<'a>(&'a self, spec: &'a VolumeSpec) -> EngineFuture<'a, VolumeSummary> {
        Box::pin(async move {
            let request = api::VolumeCreateRequest {
                name: Some(spec.name.clone()),
                driver: spec.driver.clone(),
                driver_opts: non_empty(&spec.driver_opts),
                labels: non_empty(&spec.labels),
                ..Default::default()
            };
            let volume = self
                .docker
                .create_volume(request)
                .await
                .map_err(|e| self.error("create", format!("volume {}", spec.name), e))?;
            Ok(convert::volume_summary(volume))
        })
    }

    fn list_volumes<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<VolumeSummary>> {
        Box::pin(async move {
            let options = query::ListVolumesOptions {
                filters: Some(label_filters(labels)),
            };
            let list = self
                .docker
                .list_volumes(Some(options))
                .await
                .map_err(|e| self.error("list", describe_list("volumes", labels), e))?;
            Ok(list
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(convert::volume_summary)
                .collect())
        })
    }

    fn remove_volume<'a>(&'a self, volume: &'a str, force: bool) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            self.docker
                .remove_volume(volume, Some(query::RemoveVolumeOptions { force }))
                .await
                .map_err(|e| self.error("remove", format!("volume {volume}"), e))
        })
    }

    fn inspect_image<'a>(&'a self, image: &'a str) -> EngineFuture<'a, Option<ImageDetails>> {
        Box::pin(async move {
            match self.docker.inspect_image(image).await {
                Ok(details) => Ok(Some(convert::image_details(details))),
                Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(None),
                Err(e) => Err(self.error("inspect", format!("image {image}"), e)),
            }
        })
    }

    fn remove_image<'a>(&'a self, image: &'a str, force: bool) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let options = query::RemoveImageOptions {
                force,
                noprune: false,
                ..Default::default()
            };
            self.docker
                .remove_image(image, Some(options), None)
                .await
                .map(drop)
                .map_err(|e| self.error("remove", format!("image {image}"), e))
        })
    }
    fn build_image(&self, spec: &BuildSpec, context: BuildContext) -> EngineStream<BuildOutput> {
        let mut docker = self.docker.clone().with_timeout(STREAM_TIMEOUT);
        if !spec.extra_hosts.is_empty() {
            // The engine takes one `extrahosts` parameter per host, which
            // bollard's options cannot repeat: add them to the query.
            let prefix = format!("/v{}", self.negotiated);
            let hosts = spec.extra_hosts.clone();
            docker = docker.with_request_modifier(move |request| {
                with_query(versioned(request, &prefix), "extrahosts", &hosts)
            });
        }
        let options = query::BuildImageOptions {
            dockerfile: spec.dockerfile.clone(),
            t: Some(spec.tag.clone()),
            nocache: spec.no_cache,
            cachefrom: (!spec.cache_from.is_empty()).then(|| spec.cache_from.clone()),
            rm: true,
            forcerm: true,
            buildargs: non_empty(&spec.args),
            shmsize: spec.shm_size.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
            labels: non_empty(&spec.labels),
            networkmode: spec.network.clone(),
            target: spec.target.clone().unwrap_or_default(),
            ..Default::default()
        };
        let engine = self.clone();
        let object = format!("image {}", spec.tag);
        // The engine sends output in pieces that need not end at a line.
        let mut pending = String::new();
        let stream = build_answers(docker, options, context).flat_map(move |item| {
            let items: Vec<Result<BuildOutput, EngineError>> = match item {
                Ok(info) => {
                    let mut out = Vec::new();
                    if let Some(text) = info.stream.or(info.status) {
                        pending.push_str(&text);
                        while let Some(end) = pending.find('\n') {
                            let line: String = pending.drain(..=end).collect();
                            out.push(Ok(BuildOutput::Line(strip_ansi(
                                line.trim_end_matches(['\n', '\r']),
                            ))));
                        }
                    }
                    if let Some(id) = info.aux.and_then(|aux| aux.id) {
                        out.push(Ok(BuildOutput::ImageId(id)));
                    }
                    out
                }
                Err(e) => {
                    let mut out = Vec::new();
                    if !pending.is_empty() {
                        out.push(Ok(BuildOutput::Line(std::mem::take(&mut pending))));
                    }
                    out.push(Err(engine.error("build", object.clone(), e)));
                    out
                }
            };
            futures_util::stream::iter(items)
        });
        Box::pin(stream)
    }

    fn tag_image<'a>(&'a self, image: &'a str, tag: &'a str) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let (repo, version) = split_tag(tag);
            let options = query::TagImageOptions {
                repo: Some(repo.to_owned()),
                tag: Some(version.to_owned()),
            };
            self.docker
                .tag_image(image, Some(options))
                .await
                .map_err(|e| self.error("tag", format!("image {image} as {tag}"), e))
        })
    }

    fn upload_archive<'a>(
        &'a self,
        container: &'a str,
        path: &'a str,
        archive: bytes::Bytes,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let options = query::UploadToContainerOptions {
                path: path.to_owned(),
                ..Default::default()
            };
            self.docker
                .upload_to_container(container, Some(options), bollard::body_full(archive))
                .await
                .map_err(|e| self.error("copy", format!("files into {container}:{path}"), e))
        })
    }
}

/// The build request's answers as a `'static` stream: bollard's borrows
/// the client, so a task owns the request and hands the answers over. The
/// request goes when the stream is first polled; dropping the stream aborts
/// the task, and with it the upload and the build.
fn build_answers(
    docker: Docker,
    options: query::BuildImageOptions,
    context: BuildContext,
) -> impl futures_util::Stream<Item = Result<api::BuildInfo, BollardError>> + Send + 'static {
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let start = async move {
        let task = AbortOnDrop(tokio::spawn(async move {
            let body = bollard::body_try_stream(context);
            let mut answers = docker.build_image(options, None, Some(body));
            while let Some(answer) = answers.next().await {
                if tx.send(answer).await.is_err() {
                    break;
                }
            }
        }));
        (rx, task)
    };
    futures_util::stream::once(start).flat_map(|(rx, task)| {
        futures_util::stream::unfold((rx, task), |(mut rx, task)| async move {
            rx.recv().await.map(|answer| (answer, (rx, task)))
        })
    })
}

/// The request with `key=value` added to its query for each of `values`.
fn with_query(mut request: BollardRequest, key: &str, values: &[String]) -> BollardRequest {
    let Some(path_and_query) = request.uri().path_and_query() else {
        return request;
    };
    let mut text = path_and_query.as_str().to_owned();
    for value in values {
        text.push(if text.contains('?') { '&' } else { '?' });
        text.push_str(key);
        text.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
                text.push(char::from(byte));
            } else {
                text.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = http::uri::PathAndQuery::try_from(text) {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// `text` without terminal colour sequences (the classic builder paints a
/// step's standard error red).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.clone().next() == Some('[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `repo:tag` split at the tag's colon (a registry's port is not a tag);
/// `latest` when there is none.
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    }
}

/// A map the engine takes as optional: `None` when empty, so the request
/// leaves the field out rather than sending `{}`.
fn non_empty<C: FromIterator<(String, String)>>(
    map: &std::collections::BTreeMap<String, String>,
) -> Option<C> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> BollardRequest {
        http::Request::builder()
            .uri(uri)
            .body(bollard::body_full(bytes::Bytes::new()))
            .unwrap()
    }

    #[test]
    fn requests_carry_the_negotiated_version() {
        let r = versioned(
            request("http://localhost:2375/containers/json?all=true"),
            "/v1.41",
        );
        assert_eq!(
            r.uri().to_string(),
            "http://localhost:2375/v1.41/containers/json?all=true"
        );
        let r = versioned(request("http://localhost:2375/v1.53/version"), "/v1.41");
        assert_eq!(r.uri().path(), "/v1.41/version");
        let r = versioned(request("http://localhost:2375/volumes"), "/v1.41");
        assert_eq!(r.uri().path(), "/v1.41/volumes");
    }

    #[test]
    fn extra_hosts_are_repeated_query_parameters() {
        let r = with_query(
            request("http://localhost/v1.41/build?t=x"),
            "extrahosts",
            &["a:1.2.3.4".into(), "b:[::1]".into()],
        );
        assert_eq!(
            r.uri().path_and_query().unwrap().as_str(),
            "/v1.41/build?t=x&extrahosts=a:1.2.3.4&extrahosts=b:%5B::1%5D"
        );
    }

    #[test]
    fn build_output_loses_its_colours_and_tags_split_at_the_tag() {
        assert_eq!(strip_ansi("\u{1b}[91msecond line\u{1b}[0m"), "second line");
        assert_eq!(split_tag("a/b:1"), ("a/b", "1"));
        assert_eq!(split_tag("host:5000/b"), ("host:5000/b", "latest"));
    }

    #[test]
    fn missing_images_are_recognised() {
        assert!(is_missing_image("No such image: busybox:9"));
        assert!(is_missing_image("busybox:9: image not known"));
        assert!(!is_missing_image("network shop_default not found"));
    }

    #[test]
    fn error_chains_read_as_one_line() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = BollardError::from(io);
        assert_eq!(chain(&err), "connection refused");
    }
}
