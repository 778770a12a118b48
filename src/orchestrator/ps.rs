//! `ps`: the containers of a project, as rows for a table or JSON.
//!
//! Like `down`, `ps` finds containers by compose's project label, so it
//! shows what runs whether muster or docker compose started it, and needs
//! no compose file. One engine call: the list the engine gives already
//! holds the state, health, ports and the human status (`Up 3 minutes`).

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::engine::{ContainerState, ContainerSummary, Engine, HealthStatus, PortMapping};
use crate::orchestrator::error::OrchestratorError;
use crate::orchestrator::spec::{self, labels};

/// Which containers `ps` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PsOptions {
    /// Also stopped and created containers (`-a`); otherwise only those
    /// that run (or are paused or restarting).
    pub all: bool,
    /// Only these services; empty for all.
    pub services: Vec<String>,
}

/// One container of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRow {
    /// The full id.
    pub id: String,
    /// The container's name.
    pub name: String,
    /// Its service (`com.docker.compose.service`).
    pub service: String,
    /// Its replica number (`com.docker.compose.container-number`), or 0.
    pub number: u32,
    /// The image it was created from.
    pub image: String,
    /// Its state.
    pub state: ContainerState,
    /// Its health, when it has a healthcheck.
    pub health: Option<HealthStatus>,
    /// The engine's words for it: `Up 3 minutes (healthy)`,
    /// `Exited (0) 2 seconds ago`.
    pub status: String,
    /// When it was created.
    pub created: Option<SystemTime>,
    /// The exit code, for an exited container.
    pub exit_code: Option<i64>,
    /// Its ports and where they are published.
    pub ports: Vec<PortMapping>,
}

impl ContainerRow {
    fn from_summary(c: ContainerSummary) -> Self {
        let exit_code = (c.state == ContainerState::Exited)
            .then(|| exit_code(&c.status))
            .flatten();
        Self {
            name: c.name().to_owned(),
            service: c.label(labels::SERVICE).unwrap_or_default().to_owned(),
            number: c
                .label(labels::CONTAINER_NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            id: c.id,
            image: c.image,
            state: c.state,
            health: c.health,
            status: c.status,
            created: c.created,
            exit_code,
            ports: c.ports,
        }
    }

    /// The ports as `docker ps` writes them:
    /// `127.0.0.1:49153->80/tcp, 9000/tcp`.
    #[must_use]
    pub fn ports_text(&self) -> String {
        let mut out = String::new();
        for (i, port) in self.ports.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match (&port.host_ip, port.host_port) {
                (Some(ip), Some(host)) if ip.contains(':') => {
                    let _ = write!(out, "[{ip}]:{host}->");
                }
                (Some(ip), Some(host)) => {
                    let _ = write!(out, "{ip}:{host}->");
                }
                (None, Some(host)) => {
                    let _ = write!(out, "{host}->");
                }
                (_, None) => {}
            }
            let _ = write!(out, "{}/{}", port.container_port, port.protocol);
        }
        out
    }
}

/// The exit code in a status such as `Exited (137) 5 seconds ago`.
fn exit_code(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split_once(')')?.0.trim().parse().ok()
}

/// The containers of `project`, sorted by service, then replica number,
/// then name.
///
/// # Errors
/// [`OrchestratorError::Engine`] when the engine cannot list containers.
pub async fn ps(
    engine: &dyn Engine,
    project: &str,
    options: &PsOptions,
) -> Result<Vec<ContainerRow>, OrchestratorError> {
    let containers = engine
        .list_containers(&[spec::project_filter(project)])
        .await
        .map_err(|e| {
            OrchestratorError::engine(format!("cannot list the containers of {project}"), e)
        })?;
    let mut rows: Vec<ContainerRow> = containers
        .into_iter()
        .filter(|c| options.all || c.state.is_up())
        .map(ContainerRow::from_summary)
        .filter(|r| options.services.is_empty() || options.services.contains(&r.service))
        .collect();
    rows.sort_by(|a, b| {
        (a.service.as_str(), a.number, a.name.as_str()).cmp(&(
            b.service.as_str(),
            b.number,
            b.name.as_str(),
        ))
    });
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Protocol;

    #[test]
    fn ports_read_like_docker_ps() {
        let row = ContainerRow::from_summary(ContainerSummary {
            ports: vec![
                PortMapping {
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(49153),
                },
                PortMapping {
                    container_port: 53,
                    protocol: Protocol::Udp,
                    host_ip: Some("::".into()),
                    host_port: Some(5353),
                },
                PortMapping {
                    container_port: 9000,
                    protocol: Protocol::Tcp,
                    host_ip: None,
                    host_port: None,
                },
            ],
            ..ContainerSummary::default()
        });
        assert_eq!(
            row.ports_text(),
            "127.0.0.1:49153->80/tcp, [::]:5353->53/udp, 9000/tcp"
        );
    }

    #[test]
    fn exited_rows_carry_the_exit_code() {
        assert_eq!(exit_code("Exited (137) 5 seconds ago"), Some(137));
        assert_eq!(exit_code("Exited (0) About a minute ago"), Some(0));
        assert_eq!(exit_code("Up 3 minutes"), None);
        let row = ContainerRow::from_summary(ContainerSummary {
            state: ContainerState::Exited,
            status: "Exited (3) 1 second ago".into(),
            labels: [
                (labels::SERVICE.to_owned(), "migrate".to_owned()),
                (labels::CONTAINER_NUMBER.to_owned(), "2".to_owned()),
            ]
            .into(),
            ..ContainerSummary::default()
        });
        assert_eq!(
            (row.service.as_str(), row.number, row.exit_code),
            ("migrate", 2, Some(3))
        );
    }
}
