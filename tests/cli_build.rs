//! `muster build` and the builds of `muster up` as a user runs them: the
//! real binary against the real engine. Also checks that
//! `examples/multistage` builds and runs offline from a clean copy.
//!
//! Projects are named after the test's scope (`-p`); services carry the
//! scope label, so the scope's guard removes their containers, and
//! [`Images`] removes the images the test built.

mod common;
#[path = "support/engine.rs"]
mod engine_support;
#[path = "support/images.rs"]
mod images;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{Output, Test};
use engine_support::{SCOPE_LABEL, TEST_IMAGE, TestScope, scope};
use images::Images;
use muster::engine::{Engine, ExecSpec, LabelFilter, Protocol, RemoveContainerOptions};

/// A project directory, a build cache that outlives each run, and the
/// images to remove at the end. Field order is drop order: `down` and the
/// images first, then the scope's sweep.
struct Project {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    images: Images,
    name: String,
    scope: TestScope,
}

impl Project {
    fn new(scope: TestScope) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            cache: tempfile::tempdir().expect("temp dir"),
            images: Images::new(),
            name: scope.scope.clone(),
            scope,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let path = self.root().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    fn muster(&self, args: &[&str]) -> Output {
        Test::at(self.root())
            .env("XDG_CACHE_HOME", &self.cache.path().display().to_string())
            .args(["-p", self.name.as_str()])
            .args(args)
            .run()
    }

    fn image(&self, service: &str) -> String {
        self.images.track(&format!("{}-{service}", self.name))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Containers first, so that the images can go.
        let name = self.name.clone();
        let engine = self.scope.engine.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let filter = [LabelFilter::equals("com.docker.compose.project", &name)];
                for c in engine.list_containers(&filter).await.unwrap_or_default() {
                    let remove = RemoveContainerOptions {
                        force: true,
                        volumes: true,
                    };
                    let _ = engine.remove_container(&c.id, remove).await;
                }
            });
        })
        .join();
    }
}

fn api_project(project: &Project) {
    project
        .write(
            "compose.yaml",
            &format!(
                "services:\n  api:\n    build: ./app\n    init: true\n    command: [sleep, '60']\n    \
                 stop_grace_period: 1s\n    labels: {{{SCOPE_LABEL}: {0}}}\n\
                 networks:\n  default:\n    labels: {{{SCOPE_LABEL}: {0}}}\n",
                project.name
            ),
        )
        .write(
            "app/Dockerfile",
            &format!("FROM {TEST_IMAGE}\nCOPY src /app/src\nRUN cat /app/src/main.js\n"),
        )
        .write("app/.dockerignore", "*.log\n")
        .write("app/src/main.js", "console.log('one')\n");
}

#[tokio::test]
async fn build_shows_each_step_prefixed_with_the_service() {
    let Some(scope) = scope("cli_build_plain").await else {
        return;
    };
    let project = Project::new(scope);
    api_project(&project);
    let image = project.image("api");
    let out = project
        .muster(&["build", "--progress", "plain", "--no-cache"])
        .success();
    project.images.track_layers(&out.stderr);
    assert!(
        out.stderr.contains("api | Step 2/4 : COPY src /app/src"),
        "{out:?}"
    );
    assert!(out.stderr.contains("api | console.log('one')"), "{out:?}");
    assert!(
        out.stderr
            .contains("api: building: 3/4 RUN cat /app/src/main.js"),
        "{out:?}"
    );
    assert!(out.stderr.contains(&format!("built {image}")), "{out:?}");
    let quiet = project.muster(&["build", "-q"]).success();
    assert_eq!(quiet.stderr, "", "{quiet:?}");
    assert_eq!(quiet.stdout, "", "{quiet:?}");
}

#[tokio::test]
async fn up_says_which_services_it_rebuilt_and_why() {
    let Some(scope) = scope("cli_build_up_why").await else {
        return;
    };
    let project = Project::new(scope);
    api_project(&project);
    let image = project.image("api");
    let first = project
        .muster(&["up", "-d", "--progress", "plain"])
        .success();
    assert!(
        first
            .stderr
            .contains(&format!("api: building {image}: no image yet")),
        "{first:?}"
    );
    let again = project
        .muster(&["up", "-d", "--progress", "plain"])
        .success();
    assert!(!again.stderr.contains("building"), "{again:?}");
    assert!(
        again
            .stderr
            .contains(&format!("api: image {image} is up to date")),
        "{again:?}"
    );
    project.write("app/src/main.js", "console.log('two')\n");
    project.write("app/notes.log", "ignored\n");
    let edited = project
        .muster(&["up", "-d", "--progress", "plain"])
        .success();
    assert!(
        edited.stderr.contains(&format!(
            "api: building {image}: 1 file changed since the image was built (src/main.js)"
        )),
        "{edited:?}"
    );
    let no_build = project
        .muster(&["up", "-d", "--no-build", "--progress", "plain"])
        .success();
    assert!(!no_build.stderr.contains("building"), "{no_build:?}");
    let forced = project
        .muster(&["up", "-d", "--build", "--progress", "plain"])
        .success();
    assert!(
        forced
            .stderr
            .contains(&format!("api: building {image}: --build")),
        "{forced:?}"
    );
    project.muster(&["down"]).success();
    for out in [&first, &edited, &forced] {
        project.images.track_layers(&out.stderr);
    }
}

#[tokio::test]
async fn a_failing_step_shows_its_output_and_exit_code() {
    let Some(scope) = scope("cli_build_fails").await else {
        return;
    };
    let project = Project::new(scope);
    api_project(&project);
    project.write(
        "app/Dockerfile",
        &format!("FROM {TEST_IMAGE}\nRUN echo compiling; echo 'error: it broke'; exit 7\n"),
    );
    let image = project.image("api");
    let out = project.muster(&["build", "--progress", "plain"]).failure();
    project.images.track_layers(&out.stderr);
    assert!(
        out.stderr.contains(
            "error: service \"api\": the image build failed at step 2/3 RUN echo compiling; \
             echo 'error: it broke'; exit 7: exit code 7\n  last output:\n    | compiling\n    | error: it broke\n"
        ),
        "{out:?}"
    );
    assert!(
        project
            .scope
            .engine
            .inspect_image(&image)
            .await
            .unwrap()
            .is_none(),
        "no image left tagged"
    );
    let bad = project.muster(&["build", "--build-arg", "=x"]).failure();
    assert!(
        bad.stderr
            .contains("error: bad build arg \"=x\": the name is empty"),
        "{bad:?}"
    );
}

/// `GET /` on a published port.
fn get(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[tokio::test]
async fn the_multistage_example_builds_and_runs_offline() {
    let Some(scope) = scope("cli_build_example").await else {
        return;
    };
    const BASE: &str = "muster-examples/busybox:1";
    // The example's base is the same scratch+busybox image as the tests';
    // tag it so when the machine lacks it (scripts/seed-images.sh builds
    // the same image under that name).
    let engine = scope.engine.clone();
    let tagged_here = engine.inspect_image(BASE).await.unwrap().is_none();
    if tagged_here {
        engine
            .tag_image(TEST_IMAGE, BASE)
            .await
            .expect("tag the base");
    }
    let project = Project::new(scope);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multistage");
    common::copy_dir(&example, project.root());
    // Publish on a free port instead of 8080, and label for the sweep.
    project.write(
        "test.override.yaml",
        &format!(
            "services:\n  web:\n    ports: !override ['127.0.0.1::8080']\n    labels: {{{SCOPE_LABEL}: {0}}}\n\
             networks:\n  default:\n    labels: {{{SCOPE_LABEL}: {0}}}\n",
            project.name
        ),
    );
    let dev_image = project.image("web");
    let prod_image = project.images.track("multistage-web:prod");
    let dev = ["-f", "compose.yaml", "-f", "test.override.yaml"];
    let out = project
        .muster(&[&dev[..], &["up", "-d", "--wait", "--progress", "plain"]].concat())
        .success();
    project.images.track_layers(&out.stderr);
    assert!(
        out.stderr.contains(&format!("web: built {dev_image}")),
        "{out:?}"
    );
    let container = format!("{}-web-1", project.name);
    let details = engine.inspect_container(&container).await.unwrap();
    let (_, port) = details
        .published_port(8080, Protocol::Tcp)
        .expect("published");
    assert!(get(port).contains("hello from the multistage example"));
    let tool = engine
        .exec(
            &container,
            &ExecSpec {
                cmd: vec!["devtool".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        tool.output,
        "devtool: dev image, dependencies: is-even left-pad \n"
    );
    // Hot reload through the bind mount.
    project.write("src/public/index.html", "<h1>edited</h1>\n");
    assert!(get(port).contains("edited"));
    project.muster(&[&dev[..], &["down"]].concat()).success();

    let prod = [
        "-f",
        "compose.yaml",
        "-f",
        "compose.prod.yaml",
        "-f",
        "test.override.yaml",
    ];
    let out = project
        .muster(&[&prod[..], &["up", "-d", "--wait", "--progress", "plain"]].concat())
        .success();
    project.images.track_layers(&out.stderr);
    assert!(
        out.stderr.contains("web: built multistage-web:prod"),
        "{out:?}"
    );
    let id = engine
        .exec(
            &container,
            &ExecSpec {
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    "id -u; ls /app; command -v devtool || echo no devtool".into(),
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        id.output, "10001\nsrc\nvendor\nno devtool\n",
        "non-root, no tests, no tools"
    );
    let details = engine.inspect_container(&container).await.unwrap();
    assert!(
        details.mounts.is_empty(),
        "no source mount in prod: {:?}",
        details.mounts
    );
    let (_, port) = details
        .published_port(8080, Protocol::Tcp)
        .expect("published");
    assert!(
        get(port).contains("<h1>edited</h1>"),
        "prod serves the source it was built from"
    );
    project.muster(&[&prod[..], &["down"]].concat()).success();
    let _ = prod_image;
    if tagged_here {
        project.images.track(BASE);
    }
}

#[tokio::test]
async fn with_dependencies_also_builds_what_the_named_service_depends_on() {
    let Some(scope) = scope("cli_build_with_deps").await else {
        return;
    };
    let project = Project::new(scope);
    api_project(&project);
    let compose = std::fs::read_to_string(project.root().join("compose.yaml")).expect("read");
    project.write(
        "compose.yaml",
        &compose.replace(
            "services:\n",
            "services:\n  worker:\n    build: {context: ./app, args: {X: '1'}}\n    depends_on: [api]\n",
        ),
    );
    let (api, worker) = (project.image("api"), project.image("worker"));
    let alone = project
        .muster(&["build", "worker", "--progress", "plain"])
        .success();
    project.images.track_layers(&alone.stderr);
    assert!(
        alone.stderr.contains(&format!("built {worker}\n")),
        "{alone:?}"
    );
    assert!(!alone.stderr.contains(&api), "{alone:?}");
    let with = project
        .muster(&[
            "build",
            "worker",
            "--with-dependencies",
            "--progress",
            "plain",
        ])
        .success();
    project.images.track_layers(&with.stderr);
    assert!(
        with.stderr.contains(&format!("api: building {api}")),
        "{with:?}"
    );
    assert!(
        with.stderr.contains(&format!("worker: building {worker}")),
        "{with:?}"
    );
}
