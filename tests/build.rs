//! Image builds on the real engine: what ends up inside the image (the
//! target stage, `.dockerignore` rules, build args), when `up` rebuilds,
//! shared builds, build order, and each error with no image left behind.
//!
//! Every test names its project after its scope, so its images
//! (`<scope>-<service>`) are its own; [`Images`] removes them at the end.
//! The decisions themselves (reasons, grouping, order) are unit-tested on
//! the fake engine in `src/build/tests.rs`.

#[path = "support/engine.rs"]
mod engine_support;
#[path = "support/images.rs"]
mod images;

use std::sync::Arc;

use engine_support::{SCOPE_LABEL, TEST_IMAGE, TestScope, scope};
use images::{Images, read_image};
use muster::build::{self, BuildError, BuildOptions, BuildPolicy, BuildSummary};
use muster::engine::{DockerEngine, Engine};
use muster::model::{LoadedProject, ProjectOptions, load};
use muster::orchestrator::events::{Collect, Event};
use muster::orchestrator::up::{UpOptions, up};

/// A project in a temp dir, named after the test's scope, with its own
/// build cache.
struct Project {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    name: String,
    images: Images,
}

impl Project {
    fn new(scope: &TestScope, compose: &str) -> Self {
        let project = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            cache: tempfile::tempdir().expect("temp dir"),
            name: scope.scope.clone(),
            images: Images::new(),
        };
        project.write("compose.yaml", &compose.replace("@scope", &scope.scope));
        project
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let path = self.dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    fn load(&self) -> LoadedProject {
        let options = ProjectOptions {
            project_name: Some(self.name.clone()),
            ..ProjectOptions::in_dir(self.dir.path())
        };
        load(&options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The image of `service`, removed when the test ends.
    fn image(&self, service: &str) -> String {
        self.images.track(&format!("{}-{service}", self.name))
    }

    fn options(&self) -> BuildOptions {
        BuildOptions {
            cache_dir: self.cache.path().to_path_buf(),
            ..BuildOptions::default()
        }
    }

    async fn build(
        &self,
        engine: &DockerEngine,
        services: &[&str],
        options: BuildOptions,
    ) -> (Result<BuildSummary, BuildError>, Vec<Event>) {
        for s in services {
            self.image(s);
        }
        let collect = Arc::new(Collect::default());
        let services: Vec<String> = services.iter().map(|s| (*s).to_owned()).collect();
        let result = build::build(
            Arc::new(engine.clone()),
            &self.load(),
            &services,
            &options,
            collect.clone(),
        )
        .await;
        (result, collect.events())
    }
}

fn scope_labels(scope: &TestScope) -> std::collections::BTreeMap<String, String> {
    scope.labels()
}

const MULTISTAGE: &str = "FROM muster-test/busybox:1 AS base\n\
    ARG GREETING=none\n\
    RUN echo \"$GREETING\" > /greeting\n\
    FROM base AS dev\n\
    COPY . /app\n\
    RUN touch /dev-tools && cp /etc/hosts /build-hosts\n\
    FROM base AS prod\n\
    COPY src /app/src\n\
    RUN touch /prod-only\n";

fn multistage(project: &Project) {
    project
        .write("app/Dockerfile", MULTISTAGE)
        .write(
            "app/.dockerignore",
            "# local junk\n*.log\n**/node_modules\nsecrets\n!secrets/public.pem\n/build\n",
        )
        .write("app/src/main.js", "console.log('hi')\n")
        .write("app/src/node_modules/dep/index.js", "dep\n")
        .write("app/secrets/private.pem", "private\n")
        .write("app/secrets/public.pem", "public\n")
        .write("app/debug.log", "log\n")
        .write("app/build/out.o", "obj\n")
        .write("app/lib/build/keep.txt", "nested build dir is kept\n");
    // A link out of the context is sent as a link, never followed.
    std::os::unix::fs::symlink("/etc/hostname", project.dir.path().join("app/src/link"))
        .expect("symlink");
}

#[tokio::test]
async fn the_target_stage_the_ignore_rules_and_the_build_args_hold_inside_the_image() {
    let Some(scope) = scope("build_target_ignore_args").await else {
        return;
    };
    let project = Project::new(
        &scope,
        "services:\n  api:\n    build:\n      context: ./app\n      target: dev\n      args: {GREETING: hello}\n      \
         extra_hosts: [a.build.local=10.0.0.1, b.build.local=10.0.0.2]\n",
    );
    multistage(&project);
    let image = project.image("api");
    let (result, _) = project
        .build(&scope.engine, &["api"], project.options())
        .await;
    let summary = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.built.len(), 1);
    let inside = read_image(
        &scope.engine,
        &image,
        "cat /greeting; ls /dev-tools /prod-only 2>&1; grep build.local /build-hosts; \
         echo link: $(readlink /app/src/link); \
         cd /app && find . -type f | sort",
        scope_labels(&scope),
    )
    .await;
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines[0], "hello", "{inside}");
    assert!(inside.contains("/dev-tools"), "{inside}");
    assert!(
        inside.contains("/prod-only: No such file or directory"),
        "the prod stage's file must not be in the dev image: {inside}"
    );
    assert!(
        inside.contains("10.0.0.1\ta.build.local\n10.0.0.2\tb.build.local\n"),
        "both extra hosts reach RUN steps: {inside}"
    );
    assert!(inside.contains("link: /etc/hostname\n"), "{inside}");
    let files: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("./"))
        .copied()
        .collect();
    assert_eq!(
        files,
        [
            "./.dockerignore",
            "./Dockerfile",
            "./lib/build/keep.txt",
            "./secrets/public.pem",
            "./src/main.js",
        ],
        "{inside}"
    );
    let details = scope.engine.inspect_image(&image).await.unwrap().unwrap();
    assert_eq!(
        details.labels.get("com.docker.compose.project"),
        Some(&project.name)
    );
    assert_eq!(
        details
            .labels
            .get("com.docker.compose.service")
            .map(String::as_str),
        Some("api")
    );
    assert!(details.labels.contains_key(build::labels::HASH));
}

#[tokio::test]
async fn up_rebuilds_when_a_tracked_file_changes_and_only_then() {
    let Some(scope) = scope("build_up_rebuilds").await else {
        return;
    };
    let project = Project::new(
        &scope,
        &format!(
            "services:\n  api:\n    build: {{context: ./app, target: dev}}\n    init: true\n    \
             command: [sleep, '60']\n    stop_grace_period: 1s\n    labels: {{{SCOPE_LABEL}: @scope}}\n\
             networks:\n  default:\n    labels: {{{SCOPE_LABEL}: @scope}}\n"
        ),
    );
    multistage(&project);
    let image = project.image("api");
    let engine: Arc<dyn Engine> = Arc::new(scope.engine.clone());
    let options = UpOptions {
        build_options: project.options(),
        ..UpOptions::default()
    };
    let run_up = || {
        let engine = Arc::clone(&engine);
        let loaded = project.load();
        let options = options.clone();
        async move {
            let collect = Arc::new(Collect::default());
            up(engine, &loaded, &options, collect.clone())
                .await
                .unwrap_or_else(|e| panic!("up failed: {e}"));
            collect
                .events()
                .into_iter()
                .filter_map(|e| match e {
                    Event::Building {
                        service, reason, ..
                    } => Some(format!("{service}: {reason}")),
                    _ => None,
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(run_up().await, ["api: no image yet"]);
    let first = scope
        .engine
        .inspect_image(&image)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        run_up().await.is_empty(),
        "an unchanged second up builds nothing"
    );
    project.write("app/debug.log", "an ignored file changed\n");
    assert!(
        run_up().await.is_empty(),
        "an ignored file does not rebuild"
    );
    project.write("app/src/main.js", "console.log('edited')\n");
    assert_eq!(
        run_up().await,
        ["api: 1 file changed since the image was built (src/main.js)"]
    );
    let second = scope
        .engine
        .inspect_image(&image)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_ne!(first, second);
    let container = scope
        .engine
        .inspect_container(&format!("{}-api-1", project.name))
        .await
        .unwrap();
    assert_eq!(
        container.image_id, second,
        "up recreated the container from the rebuilt image"
    );
    let inside = read_image(
        &scope.engine,
        &image,
        "cat /app/src/main.js",
        scope_labels(&scope),
    )
    .await;
    assert_eq!(inside, "console.log('edited')\n");
    // The image the first `up` built is now untagged: remove it too, and
    // the containers first, which may still run it.
    project.images.track(&first);
    for c in scope.engine.list_containers(&scope.filter()).await.unwrap() {
        let remove = muster::engine::RemoveContainerOptions {
            force: true,
            volumes: true,
        };
        scope.engine.remove_container(&c.id, remove).await.unwrap();
    }
}

#[tokio::test]
async fn services_sharing_a_build_are_built_once_in_dependency_order() {
    let Some(scope) = scope("build_shared_and_order").await else {
        return;
    };
    let project = Project::new(
        &scope,
        "services:\n  web:\n    build: ./app\n  worker:\n    build: ./app\n  base:\n    build: ./base\n",
    );
    project
        .write(
            "base/Dockerfile",
            &format!("FROM {TEST_IMAGE}\nCOPY marker /base-marker\n"),
        )
        .write("base/marker", "from base\n")
        .write(
            "app/Dockerfile",
            "ARG BASE=@scope-base\nFROM ${BASE}\nCOPY . /app\n"
                .replace("@scope", &scope.scope)
                .as_str(),
        );
    let (web, worker, base) = (
        project.image("web"),
        project.image("worker"),
        project.image("base"),
    );
    // Only the two sharing services asked for: `base`, whose image they
    // build from, comes first.
    let (result, events) = project
        .build(&scope.engine, &["web", "worker"], project.options())
        .await;
    let summary = result.unwrap_or_else(|e| panic!("{e}"));
    let order: Vec<&str> = summary
        .built
        .iter()
        .map(|b| b.services[0].as_str())
        .collect();
    assert_eq!(order, ["base", "web"], "{summary:?}");
    assert_eq!(summary.built[1].services, ["web", "worker"]);
    let building: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::BuildStep { service, step } if step.contains("FROM") => Some(service.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(building.iter().filter(|s| *s == "base").count(), 1);
    let ids: Vec<String> = futures_util::future::join_all(
        [&web, &worker, &base].map(|i| scope.engine.inspect_image(i)),
    )
    .await
    .into_iter()
    .map(|r| r.unwrap().unwrap().id)
    .collect();
    assert_eq!(ids[0], ids[1], "one build, tagged for both services");
    let inside = read_image(
        &scope.engine,
        &web,
        "cat /base-marker",
        scope_labels(&scope),
    )
    .await;
    assert_eq!(inside, "from base\n");
}

/// Runs a build that must fail and checks that no image was left tagged.
async fn failing_build(scope: &TestScope, project: &Project, options: BuildOptions) -> BuildError {
    let image = project.image("api");
    let (result, events) = project.build(&scope.engine, &["api"], options).await;
    // The steps that succeeded stay as build cache (as with `docker
    // build`); the test removes them.
    let output: String = events
        .iter()
        .filter_map(|e| match e {
            Event::BuildOutput { line, .. } => Some(format!("{line}\n")),
            _ => None,
        })
        .collect();
    project.images.track_layers(&output);
    let err = result.expect_err("the build must fail");
    assert!(
        scope.engine.inspect_image(&image).await.unwrap().is_none(),
        "no image {image} may be left after: {err}"
    );
    err
}

#[tokio::test]
async fn each_build_error_says_what_and_leaves_no_image() {
    let Some(scope) = scope("build_errors").await else {
        return;
    };
    let api = "services:\n  api:\n    build: {context: ./app, target: dev}\n";

    let project = Project::new(&scope, api);
    let err = failing_build(&scope, &project, project.options()).await;
    assert!(
        err.to_string()
            .starts_with("service \"api\": the build context ")
            && err.to_string().contains("does not exist"),
        "{err}"
    );

    let project = Project::new(&scope, api);
    project.write("app/src/x", "x");
    let err = failing_build(&scope, &project, project.options()).await;
    assert!(
        err.to_string().starts_with("service \"api\": Dockerfile ")
            && err.to_string().contains("not found"),
        "{err}"
    );

    let project = Project::new(&scope, api);
    project.write(
        "app/Dockerfile",
        &format!("FROM {TEST_IMAGE} AS builder\nFROM builder AS runtime\n"),
    );
    let err = failing_build(&scope, &project, project.options()).await;
    assert_eq!(
        err.to_string(),
        "service \"api\": target stage \"dev\" not found in Dockerfile; stages: builder, runtime"
    );

    let project = Project::new(&scope, api);
    project.write("app/Dockerfile", "FROM muster-test/not-here:1 AS dev\n");
    let err = failing_build(&scope, &project, project.options()).await;
    assert!(
        err.to_string().starts_with(
            "service \"api\": base image \"muster-test/not-here:1\" is not present locally"
        ),
        "{err}"
    );

    let project = Project::new(&scope, api);
    project.write(
        "app/Dockerfile",
        &format!(
            "FROM {TEST_IMAGE} AS dev\nRUN echo preparing\n\
             RUN echo first line; echo 'second line' >&2; exit 3\nRUN echo never\n"
        ),
    );
    let err = failing_build(&scope, &project, project.options()).await;
    let BuildError::StepFailed(failure) = &err else {
        panic!("expected a failed step, got: {err}");
    };
    assert_eq!(failure.exit_code, Some(3), "{err}");
    assert_eq!(
        failure.step.as_deref(),
        Some("3/5 RUN echo first line; echo 'second line' >&2; exit 3")
    );
    // Standard output and error may come in either order.
    let mut output = failure.output.clone();
    output.sort();
    assert_eq!(output, ["first line", "second line"], "{err}");

    let project = Project::new(&scope, api);
    project.write("app/Dockerfile", &format!("FROM {TEST_IMAGE} AS dev\n"));
    let options = BuildOptions {
        args: vec!["NO SPACES=1".into()],
        ..project.options()
    };
    let err = failing_build(&scope, &project, options).await;
    assert!(
        err.to_string().starts_with("bad build arg \"NO SPACES=1\""),
        "{err}"
    );
}

#[tokio::test]
async fn up_with_no_build_leaves_a_missing_image_missing() {
    let Some(scope) = scope("build_up_no_build").await else {
        return;
    };
    let project = Project::new(
        &scope,
        "services:\n  api:\n    build: {context: ./app, target: dev}\n",
    );
    multistage(&project);
    let image = project.image("api");
    let options = UpOptions {
        build: BuildPolicy::Never,
        build_options: project.options(),
        ..UpOptions::default()
    };
    let engine: Arc<dyn Engine> = Arc::new(scope.engine.clone());
    let err = up(
        engine,
        &project.load(),
        &options,
        Arc::new(Collect::default()),
    )
    .await
    .expect_err("the image is missing");
    assert!(err.to_string().contains("is not present locally"), "{err}");
    assert!(scope.engine.inspect_image(&image).await.unwrap().is_none());
}

#[tokio::test]
async fn network_shm_size_and_labels_reach_the_builder() {
    let Some(scope) = scope("build_options").await else {
        return;
    };
    let project = Project::new(
        &scope,
        "services:\n  api:\n    build:\n      context: ./app\n      network: none\n      shm_size: 16m\n      \
         labels: {org.example.team: builds}\n      cache_from: [muster-test/busybox:1]\n",
    );
    project.write(
        "app/Dockerfile",
        &format!(
            "FROM {TEST_IMAGE}\nRUN ls /sys/class/net > /nets && df -k /dev/shm | tail -1 > /shm\n"
        ),
    );
    let image = project.image("api");
    let (result, events) = project
        .build(&scope.engine, &["api"], project.options())
        .await;
    let output: String = events
        .iter()
        .filter_map(|e| match e {
            Event::BuildOutput { line, .. } => Some(format!("{line}\n")),
            _ => None,
        })
        .collect();
    project.images.track_layers(&output);
    result.unwrap_or_else(|e| panic!("{e}"));
    let inside = read_image(
        &scope.engine,
        &image,
        "cat /nets /shm",
        scope_labels(&scope),
    )
    .await;
    let mut lines = inside.lines();
    assert_eq!(
        lines.next(),
        Some("lo"),
        "network none: only loopback: {inside}"
    );
    let shm = lines.next().unwrap_or_default();
    assert!(shm.contains(" 16384 "), "a 16 MiB /dev/shm: {inside}");
    let details = scope.engine.inspect_image(&image).await.unwrap().unwrap();
    assert_eq!(
        details.labels.get("org.example.team").map(String::as_str),
        Some("builds")
    );
}
