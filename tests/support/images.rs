//! Images that build tests make, and looking inside them.
//!
//! [`Images`] removes the images it is told about when it is dropped (even
//! by a panic), so build tests leave no tagged image behind; give each test
//! a unique project name, so the images' names are unique too.
//! [`read_image`] runs a shell script in a throwaway container of an image
//! and returns what it printed: how tests look inside what was built.
//!
//! Include it with `#[path = "support/images.rs"] mod images;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures_util::StreamExt;
use muster::engine::{ContainerSpec, DockerEngine, Engine, LogOptions, RemoveContainerOptions};

/// Image names to remove when the test ends.
#[derive(Debug, Default)]
pub struct Images {
    names: Mutex<Vec<String>>,
    layers: Mutex<Vec<String>>,
}

impl Images {
    /// Nothing to remove yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes `name` when the test ends (a name never built is fine).
    pub fn track(&self, name: &str) -> String {
        if let Ok(mut names) = self.names.lock() {
            names.push(name.to_owned());
        }
        name.to_owned()
    }
}

impl Images {
    /// Removes, at the end, the step images a build created (not those it
    /// took from the cache, nor base images), as its output shows them
    /// (`Step 2/5 : ...`, ` ---> Using cache`, ` ---> 1a2b3c4d5e6f`): the
    /// classic builder keeps them as cache, also those of stages a target
    /// did not need, and after a failed step.
    pub fn track_layers(&self, output: &str) {
        let mut cached = false;
        let mut from = false;
        for line in output.lines() {
            let line = line.rsplit(" | ").next().unwrap_or(line).trim();
            if let Some(step) = line.strip_prefix("Step ") {
                from = step.contains(" : FROM ");
                cached = false;
            } else if line == "---> Using cache" {
                cached = true;
            } else if let Some(id) = line.strip_prefix("---> ")
                && id.len() == 12
                && id.chars().all(|c| c.is_ascii_hexdigit())
                && !cached
                && !from
                && let Ok(mut layers) = self.layers.lock()
            {
                layers.push(id.to_owned());
            }
        }
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        let layers = self.layers.lock().map(|n| n.clone()).unwrap_or_default();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(engine) = DockerEngine::connect().await else {
                    return;
                };
                // Latest first: a step's image before the one it was built on.
                for name in names.into_iter().rev() {
                    if let Err(e) = engine.remove_image(&name, true).await
                        && !e.is_not_found()
                    {
                        eprintln!("cleanup of image {name}: {e}");
                    }
                }
                // Without force: a layer another image still builds on
                // stays.
                for id in layers.into_iter().rev() {
                    let _ = engine.remove_image(&id, false).await;
                }
            });
        })
        .join();
    }
}

/// What `sh -c script` prints in a new container of `image` (labelled with
/// `labels`, removed afterwards).
///
/// # Panics
/// When the container cannot be created or run.
pub async fn read_image(
    engine: &DockerEngine,
    image: &str,
    script: &str,
    labels: BTreeMap<String, String>,
) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(
        "{}-read-{}-{n}",
        image.replace(['/', ':'], "-"),
        std::process::id()
    );
    let spec = ContainerSpec {
        name,
        image: image.to_owned(),
        entrypoint: Some(Vec::new()),
        cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
        labels,
        ..Default::default()
    };
    let id = engine
        .create_container(&spec)
        .await
        .unwrap_or_else(|e| panic!("create a container of {image}: {e}"));
    engine.start_container(&id).await.expect("start");
    engine.wait_container(&id).await.expect("wait");
    let mut logs = engine.logs(&id, &LogOptions::default());
    let mut out = String::new();
    while let Some(Ok(chunk)) = logs.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.data));
    }
    let _ = engine
        .remove_container(
            &id,
            RemoveContainerOptions {
                force: true,
                volumes: true,
            },
        )
        .await;
    out
}
