//! Where the engine is, and how to tell someone it is not there.
//!
//! muster finds the engine as the docker CLI does: `DOCKER_HOST`
//! (`unix://PATH` or `tcp://HOST:PORT`), TLS when `DOCKER_TLS_VERIFY` is set
//! with the certificates in `DOCKER_CERT_PATH` (default `~/.docker`), and
//! `unix:///var/run/docker.sock` otherwise. Before any API call it opens the
//! transport itself with a short timeout, so that a missing daemon is a clear
//! error within a second that names the address and where it came from,
//! instead of a generic HTTP client error after two minutes.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{EngineError, seconds};

/// The address the docker CLI uses when `DOCKER_HOST` is unset.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Where the engine's address came from; it decides what the error hint says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostSource {
    /// `DOCKER_HOST` was unset: the default socket.
    #[default]
    Default,
    /// From `DOCKER_HOST`.
    Env,
    /// Given by the program.
    Explicit,
}

/// TLS settings for a `tcp://` engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The folder holding `ca.pem`, `cert.pem` and `key.pem`.
    pub cert_path: PathBuf,
}

/// How to reach the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The address, as `unix:///var/run/docker.sock` or `tcp://host:2376`.
    pub host: String,
    /// Where `host` came from.
    pub source: HostSource,
    /// TLS settings; `None` for plain TCP or a socket.
    pub tls: Option<TlsConfig>,
    /// How long opening the transport may take before the engine counts as
    /// unreachable.
    pub connect_timeout: Duration,
    /// How long the engine may take to answer its first request.
    pub handshake_timeout: Duration,
    /// How long any other request may take to start answering (streams such
    /// as logs and events may then run for as long as they like).
    pub request_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::new(DEFAULT_HOST)
    }
}

impl EngineConfig {
    /// An explicit address, without TLS, with the default timeouts.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            source: HostSource::Explicit,
            tls: None,
            connect_timeout: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }

    /// The configuration the process environment describes.
    ///
    /// # Errors
    ///
    /// [`EngineError::InvalidHost`] when the TLS settings cannot be used.
    pub fn from_env() -> Result<Self, EngineError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// The configuration that the variables `lookup` returns describe
    /// (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_TLS`, `DOCKER_CERT_PATH`,
    /// `HOME`); tests pass a map instead of touching the process environment.
    ///
    /// # Errors
    ///
    /// [`EngineError::InvalidHost`] when TLS is asked for without
    /// verification, which is not supported.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EngineError> {
        let set = |key: &str| lookup(key).filter(|v| !v.is_empty());
        let (host, source) = match set("DOCKER_HOST") {
            Some(host) => (host, HostSource::Env),
            None => (DEFAULT_HOST.to_owned(), HostSource::Default),
        };
        let tls = if set("DOCKER_TLS_VERIFY").is_some() {
            let cert_path = set("DOCKER_CERT_PATH").map_or_else(
                || PathBuf::from(set("HOME").unwrap_or_default()).join(".docker"),
                PathBuf::from,
            );
            Some(TlsConfig { cert_path })
        } else if set("DOCKER_TLS").is_some() {
            return Err(EngineError::InvalidHost {
                address: host,
                reason: "DOCKER_TLS is set without DOCKER_TLS_VERIFY: TLS without verifying \
                         the engine's certificate is not supported; set DOCKER_TLS_VERIFY=1 \
                         and DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem"
                    .into(),
            });
        } else {
            None
        };
        Ok(Self {
            host,
            source,
            tls,
            ..Self::new("")
        })
    }

    /// What to say about where the address came from, for error hints.
    pub(crate) fn source_note(&self) -> String {
        match self.source {
            HostSource::Default => "DOCKER_HOST is unset.".to_owned(),
            HostSource::Env => format!("DOCKER_HOST is set to {}.", self.host),
            HostSource::Explicit => String::new(),
        }
    }
}

/// A parsed engine address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A Unix socket.
    Unix(PathBuf),
    /// A TCP address, with TLS or without.
    Tcp {
        /// The host name or address (IPv6 without brackets).
        host: String,
        /// The port.
        port: u16,
        /// Whether to speak TLS.
        tls: bool,
    },
}

impl Endpoint {
    /// Parses `address` as the docker CLI reads `DOCKER_HOST`.
    pub(crate) fn parse(address: &str, tls: bool) -> Result<Self, EngineError> {
        let invalid = |reason: &str| EngineError::InvalidHost {
            address: address.to_owned(),
            reason: reason.to_owned(),
        };
        let Some((scheme, rest)) = address.split_once("://") else {
            return Err(invalid(
                "expected unix:///path/to/docker.sock or tcp://host:port",
            ));
        };
        match scheme {
            "unix" => {
                let path = if rest.is_empty() {
                    "/var/run/docker.sock"
                } else {
                    rest
                };
                if !path.starts_with('/') {
                    return Err(invalid("a unix:// address needs an absolute path"));
                }
                Ok(Self::Unix(PathBuf::from(path)))
            }
            "tcp" | "http" | "https" => {
                let tls = tls || scheme == "https";
                let authority = rest.split('/').next().unwrap_or_default();
                let default_port = if tls { 2376 } else { 2375 };
                let (host, port) = split_host_port(authority, default_port)
                    .ok_or_else(|| invalid("expected tcp://host:port"))?;
                Ok(Self::Tcp { host, port, tls })
            }
            "ssh" => Err(invalid(
                "ssh:// engines are not supported yet; forward the engine's socket \
                 (ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock user@host) and set \
                 DOCKER_HOST=unix:///tmp/docker.sock",
            )),
            "npipe" => Err(invalid("Windows named pipes are not supported yet")),
            _ => Err(invalid(
                "unsupported scheme; expected unix:///path/to/docker.sock or tcp://host:port",
            )),
        }
    }

    /// The address in the form people write it, for messages.
    pub(crate) fn display(&self) -> String {
        match self {
            Self::Unix(path) => format!("unix://{}", path.display()),
            Self::Tcp { host, port, .. } if host.contains(':') => format!("tcp://[{host}]:{port}"),
            Self::Tcp { host, port, .. } => format!("tcp://{host}:{port}"),
        }
    }

    /// Opens and closes the transport, to learn quickly whether anything
    /// listens there. Returns what went wrong and what to check.
    pub(crate) async fn probe(&self, timeout: Duration) -> Result<(), (String, &'static str)> {
        let attempt = async {
            match self {
                Self::Unix(path) => tokio::net::UnixStream::connect(path).await.map(drop),
                Self::Tcp { host, port, .. } => {
                    tokio::net::TcpStream::connect((host.as_str(), *port))
                        .await
                        .map(drop)
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                let hint = match err.kind() {
                    io::ErrorKind::PermissionDenied => {
                        "Is your user allowed to use it (a member of the docker group)?"
                    }
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                        "Is the Docker daemon running?"
                    }
                    _ => "Is the Docker daemon running, and is the address right?",
                };
                Err((os_message(&err), hint))
            }
            Err(_) => Err((
                format!("no connection within {}", seconds(timeout)),
                "Is the address right, and is the engine listening there?",
            )),
        }
    }
}

/// `host:port`, `[v6]:port` or `host` (with the default port).
fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() {
        return Some(("localhost".to_owned(), default_port));
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let host = if host.is_empty() { "localhost" } else { host };
            Some((host.to_owned(), port.parse().ok()?))
        }
        Some(_) => None,
        None => Some((authority.to_owned(), default_port)),
    }
}

/// The operating system's words for `err`, without Rust's `(os error N)`.
pub(crate) fn os_message(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from_vars(vars: &[(&str, &str)]) -> Result<EngineConfig, EngineError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EngineConfig::from_lookup(|key| vars.get(key).cloned())
    }

    #[test]
    fn default_is_the_local_socket() {
        let config = from_vars(&[]).unwrap();
        assert_eq!(config.host, DEFAULT_HOST);
        assert_eq!(config.source, HostSource::Default);
        assert_eq!(config.tls, None);
        assert_eq!(config.source_note(), "DOCKER_HOST is unset.");
    }

    #[test]
    fn docker_host_and_tls_come_from_the_environment() {
        let config = from_vars(&[
            ("DOCKER_HOST", "tcp://10.0.0.5"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("HOME", "/home/ann"),
        ])
        .unwrap();
        assert_eq!(config.source, HostSource::Env);
        assert_eq!(
            config.tls,
            Some(TlsConfig {
                cert_path: "/home/ann/.docker".into()
            })
        );
        let endpoint = Endpoint::parse(&config.host, config.tls.is_some()).unwrap();
        assert_eq!(endpoint.display(), "tcp://10.0.0.5:2376");
        assert!(from_vars(&[("DOCKER_TLS", "1")]).is_err());
    }

    #[test]
    fn addresses_parse_as_the_docker_cli_reads_them() {
        assert_eq!(
            Endpoint::parse("unix:///run/user/1000/docker.sock", false).unwrap(),
            Endpoint::Unix("/run/user/1000/docker.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375", false).unwrap(),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 2375,
                tls: false
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:2376/", true)
                .unwrap()
                .display(),
            "tcp://[::1]:2376"
        );
        for bad in [
            "/var/run/docker.sock",
            "ssh://me@host",
            "tcp://host:port",
            "fd://",
        ] {
            let err = Endpoint::parse(bad, false).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[tokio::test]
    async fn a_missing_socket_says_so_quickly() {
        let endpoint = Endpoint::parse("unix:///nonexistent/docker.sock", false).unwrap();
        let (reason, hint) = endpoint.probe(Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(reason, "No such file or directory");
        assert_eq!(hint, "Is the Docker daemon running?");
    }
}
