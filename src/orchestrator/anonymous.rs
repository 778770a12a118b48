//! Anonymous volumes: the ones the engine names itself (64 hex digits).
//!
//! The engine removes a container's anonymous volumes with it (`-v`) only
//! when they were made for that container. One that `up` carried over to a
//! recreated container is mounted there by name, so the engine keeps it
//! when that container goes; [`remove_container`] removes it too.

use crate::engine::{Engine, EngineError, RemoveContainerOptions};

/// Whether a volume name is one the engine made up: 64 hex digits.
#[must_use]
pub fn is_anonymous_volume(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Removes a container (forcibly); with `anonymous_volumes`, also every
/// anonymous volume mounted in it that nothing else uses.
///
/// # Errors
/// The engine's error removing the container (a volume still in use by
/// another container stays, silently).
pub async fn remove_container(
    engine: &dyn Engine,
    container: &str,
    anonymous_volumes: bool,
) -> Result<(), EngineError> {
    let volumes: Vec<String> = if anonymous_volumes {
        match engine.inspect_container(container).await {
            Ok(details) => details
                .mounts
                .into_iter()
                .filter(|m| m.kind == "volume")
                .filter_map(|m| m.name)
                .filter(|name| is_anonymous_volume(name))
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let options = RemoveContainerOptions {
        force: true,
        volumes: anonymous_volumes,
    };
    engine.remove_container(container, options).await?;
    for volume in volumes {
        // The engine may still hold it for a moment after the removal;
        // one used by another container stays.
        for attempt in 0..5 {
            match engine.remove_volume(&volume, false).await {
                Err(EngineError::Conflict { .. }) if attempt < 4 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                _ => break,
            }
        }
    }
    Ok(())
}
