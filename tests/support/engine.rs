//! Set-up for tests that run against a real Docker engine.
//!
//! Such tests need three things this file gives them: the engine (skipped
//! with a note when there is none, but failing loudly when `CI` is set, so
//! that CI cannot pass by skipping), the test image `muster-test/busybox:1`
//! (built here through the Engine API from a tar made in Rust, since there is
//! no registry and tests do not run the `docker` program), and a scope: a
//! unique name prefix and label for each test, with a guard that removes
//! everything carrying the label when the test ends, even by panicking. So
//! tests run in parallel and leave nothing behind.
//!
//! Include it with `#[path = "support/engine.rs"] mod engine_support;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use muster::engine::{DockerEngine, Engine, EngineError, LabelFilter, RemoveContainerOptions};

/// The image tests run: Debian's static busybox on `scratch`.
pub const TEST_IMAGE: &str = "muster-test/busybox:1";

/// The label that marks every object a test creates; its value is the scope.
pub const SCOPE_LABEL: &str = "dev.muster.test.scope";

const BUSYBOX: &str = "/bin/busybox";

const DOCKERFILE: &str = r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /var/www /root && chmod 1777 /tmp
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
"#;

/// One test's engine, names and labels. Dropping it removes every container,
/// network and volume labelled with its scope.
#[derive(Debug)]
pub struct TestScope {
    /// The engine.
    pub engine: DockerEngine,
    /// The unique prefix of this test's object names, also its label value.
    pub scope: String,
}

impl TestScope {
    /// A unique object name: `<scope>-<what>`.
    #[must_use]
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.scope)
    }

    /// The labels to put on every object this test creates.
    #[must_use]
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(SCOPE_LABEL.to_owned(), self.scope.clone())])
    }

    /// The filter that finds this test's objects.
    #[must_use]
    pub fn filter(&self) -> Vec<LabelFilter> {
        vec![LabelFilter::equals(SCOPE_LABEL, &self.scope)]
    }
}

impl Drop for TestScope {
    fn drop(&mut self) {
        let scope = self.scope.clone();
        // A fresh runtime on its own thread: this may run inside a test's
        // runtime, or while a panic unwinds it.
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(remove_scope(&scope))
        })
        .join();
        match cleaned {
            Ok(Ok(())) => {}
            Ok(Err(message)) => eprintln!("cleanup of {}: {message}", self.scope),
            Err(_) => eprintln!("cleanup of {} panicked", self.scope),
        }
    }
}

/// Removes every container, network and volume labelled with `scope`.
async fn remove_scope(scope: &str) -> Result<(), String> {
    let engine = DockerEngine::connect().await.map_err(|e| e.to_string())?;
    let filter = [LabelFilter::equals(SCOPE_LABEL, scope)];
    let mut problems = Vec::new();
    let gone = |result: Result<(), EngineError>, problems: &mut Vec<String>| match result {
        Err(e) if !e.is_not_found() => problems.push(e.to_string()),
        _ => {}
    };
    let containers = engine
        .list_containers(&filter)
        .await
        .map_err(|e| e.to_string())?;
    let removals = containers.iter().map(|c| {
        engine.remove_container(
            &c.id,
            RemoveContainerOptions {
                force: true,
                volumes: true,
            },
        )
    });
    for result in futures_util::future::join_all(removals).await {
        gone(result, &mut problems);
    }
    for network in engine
        .list_networks(&filter)
        .await
        .map_err(|e| e.to_string())?
    {
        gone(engine.remove_network(&network.id).await, &mut problems);
    }
    for volume in engine
        .list_volumes(&filter)
        .await
        .map_err(|e| e.to_string())?
    {
        gone(
            engine.remove_volume(&volume.name, true).await,
            &mut problems,
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The engine, the test image and a fresh scope for one test; `None` (with a
/// note) when there is no engine and `CI` is unset.
///
/// # Panics
///
/// When the engine is unreachable and `CI` is set, or the test image cannot
/// be built.
pub async fn scope(test: &str) -> Option<TestScope> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let engine = match DockerEngine::connect().await {
        Ok(engine) => engine,
        Err(err) if std::env::var_os("CI").is_some() => {
            panic!("{err}\nCI is set, so tests that need the Docker engine fail rather than skip")
        }
        Err(err) => {
            eprintln!("skipping {test}: {err}");
            return None;
        }
    };
    ensure_test_image();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let scope = format!("mt-{test}-{}-{n}", std::process::id()).replace('_', "-");
    Some(TestScope { engine, scope })
}

/// Builds [`TEST_IMAGE`] once per process when the engine lacks it.
///
/// # Panics
///
/// When `/bin/busybox` is missing or not static, or the build fails.
pub fn ensure_test_image() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(build_test_image())
        })
        .join()
        .unwrap_or_else(|_| Err("building the test image panicked".to_owned()))
    });
    if let Err(message) = built {
        panic!("cannot build the test image {TEST_IMAGE}: {message}");
    }
}

async fn build_test_image() -> Result<(), String> {
    let engine = DockerEngine::connect().await.map_err(|e| e.to_string())?;
    if engine
        .inspect_image(TEST_IMAGE)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    let busybox = static_busybox(Path::new(BUSYBOX))?;
    let context = context_tar(&busybox).map_err(|e| format!("writing the build context: {e}"))?;
    let options = bollard::query_parameters::BuildImageOptions {
        t: Some(TEST_IMAGE.to_owned()),
        rm: true,
        forcerm: true,
        labels: Some([("dev.muster.test-image".to_owned(), "1".to_owned())].into()),
        ..Default::default()
    };
    let mut progress =
        engine
            .client()
            .build_image(options, None, Some(bollard::body_full(context.into())));
    let mut log = String::new();
    while let Some(step) = progress.next().await {
        match step {
            Ok(info) => log.push_str(info.stream.as_deref().unwrap_or_default()),
            Err(e) => return Err(format!("{e}\n{log}")),
        }
    }
    match engine.inspect_image(TEST_IMAGE).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("the build ended but the image is missing\n{log}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The bytes of `path`, which must be a statically linked ELF executable.
///
/// # Errors
///
/// When it is missing, not a 64-bit little-endian ELF file, or dynamically
/// linked; the message says to install busybox-static.
pub fn static_busybox(path: &Path) -> Result<Vec<u8>, String> {
    let install = "install Debian's busybox-static (apt-get install busybox-static)";
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read {}: {e}; {install}", path.display()))?;
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if bytes.get(..4) != Some(b"\x7fELF".as_slice())
        || bytes.get(4) != Some(&2)
        || bytes.get(5) != Some(&1)
    {
        return Err(format!(
            "{} is not a 64-bit little-endian ELF executable; {install}",
            path.display()
        ));
    }
    let header = (|| {
        let offset = usize::try_from(u64_at(0x20)?).ok()?;
        Some((
            offset,
            usize::from(u16_at(0x36)?),
            usize::from(u16_at(0x38)?),
        ))
    })();
    let Some((offset, size, count)) = header else {
        return Err(format!(
            "{} has a broken ELF header; {install}",
            path.display()
        ));
    };
    const PT_INTERP: u32 = 3;
    let dynamic = (0..count).any(|i| u32_at(offset + i * size) == Some(PT_INTERP));
    if dynamic {
        return Err(format!(
            "{} is dynamically linked and cannot run in a scratch image; {install}",
            path.display()
        ));
    }
    Ok(bytes)
}

/// A build context holding the Dockerfile and busybox.
fn context_tar(busybox: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", DOCKERFILE.as_bytes(), 0o644),
        ("busybox", busybox, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data)?;
    }
    tar.into_inner()
}

/// `GET path` over HTTP/1.0 from `address`: the whole answer, headers
/// included. Panics when it cannot connect or read.
pub fn http_get(address: SocketAddr, path: &str) -> String {
    let mut stream =
        TcpStream::connect(address).unwrap_or_else(|e| panic!("connect to {address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").expect("send the request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("read from {address}: {e}"));
    answer
}
