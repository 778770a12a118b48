//! The build phase on [`FakeEngine`]: what is built, once, in which order,
//! and why; what is not rebuilt; how failures are told.

use std::sync::Arc;

use super::*;
use crate::engine::fake::{FakeEngine, Op};
use crate::model::{ProjectOptions, load};
use crate::orchestrator::events::Collect;

const BASE: &str = "muster-test/busybox:1";

struct Project {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Project {
    fn new(yaml: &str) -> Self {
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        };
        project.write("compose.yaml", yaml);
        project
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let path = self.dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn load(&self) -> LoadedProject {
        let options = ProjectOptions {
            project_name: Some("p".into()),
            ..ProjectOptions::in_dir(self.dir.path())
        };
        load(&options).unwrap_or_else(|e| panic!("{e}"))
    }

    fn options(&self) -> BuildOptions {
        BuildOptions {
            cache_dir: self.cache.path().to_path_buf(),
            ..BuildOptions::default()
        }
    }

    async fn ensure(
        &self,
        engine: &FakeEngine,
        services: &[&str],
        policy: BuildPolicy,
    ) -> (Result<BuildSummary, BuildError>, Vec<Event>) {
        let collect = Arc::new(Collect::default());
        let services: Vec<String> = services.iter().map(|s| (*s).to_owned()).collect();
        let result = ensure_images(
            Arc::new(engine.clone()),
            &self.load(),
            &services,
            policy,
            &self.options(),
            collect.clone(),
        )
        .await;
        (result, collect.events())
    }
}

fn engine() -> FakeEngine {
    let engine = FakeEngine::new();
    engine.add_image(BASE);
    engine
}

const APP: &str = "services:\n  api:\n    build: ./app\n";

fn app(project: &Project) {
    project
        .write("app/Dockerfile", &format!("FROM {BASE}\nCOPY . /app\n"))
        .write("app/.dockerignore", "*.log\n")
        .write("app/src/main.js", "one")
        .write("app/debug.log", "log");
}

#[tokio::test]
async fn a_missing_image_is_built_and_an_unchanged_one_is_not() {
    let project = Project::new(APP);
    app(&project);
    let engine = engine();
    let (result, events) = project.ensure(&engine, &["api"], BuildPolicy::Auto).await;
    let summary = result.unwrap();
    assert_eq!(summary.built("api").unwrap().reason, "no image yet");
    assert!(events.contains(&Event::Building {
        service: "api".into(),
        image: "p-api".into(),
        reason: "no image yet".into()
    }));
    let builds = engine.builds();
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].spec.tag, "p-api");
    assert!(builds[0].files.contains(&"src/main.js".to_owned()));
    assert!(!builds[0].files.contains(&"debug.log".to_owned()));

    let (result, _) = project.ensure(&engine, &["api"], BuildPolicy::Auto).await;
    assert_eq!(result.unwrap().up_to_date, ["api"]);
    assert_eq!(engine.builds().len(), 1, "nothing changed: no second build");

    // An ignored file changes nothing either.
    project.write("app/debug.log", "more log");
    let (result, _) = project.ensure(&engine, &["api"], BuildPolicy::Auto).await;
    assert_eq!(result.unwrap().up_to_date, ["api"]);
}

#[tokio::test]
async fn an_edited_file_rebuilds_and_says_which() {
    let project = Project::new(APP);
    app(&project);
    let engine = engine();
    project
        .ensure(&engine, &["api"], BuildPolicy::Auto)
        .await
        .0
        .unwrap();
    project
        .write("app/src/main.js", "two")
        .write("app/src/new.js", "new");
    let (result, _) = project.ensure(&engine, &["api"], BuildPolicy::Auto).await;
    assert_eq!(
        result.unwrap().built("api").unwrap().reason,
        "2 files changed since the image was built (src/main.js, src/new.js)"
    );
    project.write("app/Dockerfile", &format!("FROM {BASE}\nCOPY . /srv\n"));
    let (result, _) = project.ensure(&engine, &["api"], BuildPolicy::Auto).await;
    assert_eq!(
        result.unwrap().built("api").unwrap().reason,
        "the Dockerfile changed"
    );
    assert_eq!(engine.builds().len(), 3);
}

#[tokio::test]
async fn policies_always_and_never() {
    let project = Project::new(APP);
    app(&project);
    let engine = engine();
    let (result, _) = project.ensure(&engine, &["api"], BuildPolicy::Never).await;
    assert_eq!(result.unwrap(), BuildSummary::default());
    assert!(engine.builds().is_empty());
    project
        .ensure(&engine, &["api"], BuildPolicy::Auto)
        .await
        .0
        .unwrap();
    let (result, _) = project.ensure(&engine, &["api"], BuildPolicy::Always).await;
    assert_eq!(result.unwrap().built("api").unwrap().reason, "--build");
    assert_eq!(engine.builds().len(), 2);
}

#[tokio::test]
async fn services_sharing_a_build_are_built_once_and_tagged_for_each() {
    let project = Project::new(
        "services:\n  web:\n    build: ./app\n  worker:\n    build: ./app\n  other:\n    build: {context: ./app, args: {X: '1'}}\n",
    );
    app(&project);
    project.write(
        "app/Dockerfile",
        &format!("FROM {BASE}\nARG X\nCOPY . /app\n"),
    );
    let engine = engine();
    let (result, _) = project
        .ensure(&engine, &["web", "worker", "other"], BuildPolicy::Auto)
        .await;
    let summary = result.unwrap();
    assert_eq!(engine.builds().len(), 2, "{:?}", engine.builds());
    let shared = summary.built("worker").unwrap();
    assert_eq!(shared.services, ["web", "worker"]);
    assert_eq!(shared.images, ["p-web", "p-worker"]);
    assert_eq!(engine.calls_of(Op::TagImage).len(), 1);
    let worker = Arc::new(engine.clone())
        .inspect_image("p-worker")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(worker.id, shared.id);
}

#[tokio::test]
async fn an_image_built_from_another_services_image_is_built_after_it() {
    let project = Project::new(
        "services:\n  app:\n    build: ./app\n  base:\n    build: ./base\n  tool:\n    build: {context: ./tool, additional_contexts: {b: 'service:base'}}\n",
    );
    project
        .write("base/Dockerfile", &format!("FROM {BASE}\nRUN echo base\n"))
        .write(
            "app/Dockerfile",
            "ARG BASE=p-base\nFROM ${BASE}\nCOPY . /app\n",
        )
        .write("tool/Dockerfile", "FROM b AS tool\nCOPY --from=b /x /x\n");
    let engine = engine();
    engine.build_delay("p-base", Duration::from_millis(50));
    // Only `app` and `tool` asked for: `base` comes along, first.
    let (result, _) = project
        .ensure(&engine, &["app", "tool"], BuildPolicy::Auto)
        .await;
    result.unwrap();
    let order: Vec<String> = engine.builds().iter().map(|b| b.spec.tag.clone()).collect();
    assert_eq!(order[0], "p-base", "{order:?}");
    assert_eq!(order.len(), 3);
    let tool = engine
        .builds()
        .into_iter()
        .find(|b| b.spec.tag == "p-tool")
        .unwrap();
    assert!(tool.files.contains(&SENT_DOCKERFILE.to_owned()));
}

#[tokio::test]
async fn a_cycle_of_builds_is_named() {
    let project = Project::new("services:\n  a:\n    build: ./a\n  b:\n    build: ./b\n");
    project
        .write("a/Dockerfile", "FROM p-b\n")
        .write("b/Dockerfile", "FROM p-a\n");
    let (result, _) = project
        .ensure(&engine(), &["a", "b"], BuildPolicy::Auto)
        .await;
    let err = result.unwrap_err().to_string();
    assert!(err.starts_with("build dependency cycle: "), "{err}");
    assert!(
        err.contains("a -> b -> a") || err.contains("b -> a -> b"),
        "{err}"
    );
}

#[tokio::test]
async fn errors_before_anything_is_sent() {
    let engine = engine();
    let missing = Project::new("services:\n  api:\n    build: ./nowhere\n");
    let err = missing
        .ensure(&engine, &["api"], BuildPolicy::Auto)
        .await
        .0
        .unwrap_err();
    assert!(matches!(err, BuildError::MissingContext { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");

    let no_dockerfile = Project::new(APP);
    no_dockerfile.write("app/src/x", "");
    let err = no_dockerfile
        .ensure(&engine, &["api"], BuildPolicy::Auto)
        .await
        .0
        .unwrap_err();
    assert!(matches!(err, BuildError::MissingDockerfile { .. }), "{err}");

    let target = Project::new("services:\n  api:\n    build: {context: ./app, target: dev}\n");
    target.write(
        "app/Dockerfile",
        &format!("FROM {BASE} AS builder\nFROM builder AS runtime\n"),
    );
    let err = target
        .ensure(&engine, &["api"], BuildPolicy::Auto)
        .await
        .0
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "service \"api\": target stage \"dev\" not found in Dockerfile; stages: builder, runtime"
    );

    let base = Project::new(APP);
    base.write("app/Dockerfile", "FROM node:20\n");
    let err = base
        .ensure(&engine, &["api"], BuildPolicy::Auto)
        .await
        .0
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("service \"api\": base image \"node:20\" is not present locally"),
        "{err}"
    );
    assert!(engine.builds().is_empty());
    assert!(engine.calls_of(Op::BuildImage).is_empty());
}

#[tokio::test]
async fn a_failing_step_is_reported_with_its_code_and_nothing_is_tagged() {
    let project = Project::new(APP);
    app(&project);
    let engine = engine();
    engine.fail_next(
        Op::BuildImage,
        "p-api",
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
    );
    let (result, events) = project.ensure(&engine, &["api"], BuildPolicy::Auto).await;
    let err = result.unwrap_err();
    let BuildError::StepFailed(failure) = &err else {
        panic!("{err}");
    };
    assert_eq!(failure.exit_code, Some(3));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Failed { service, .. } if service == "api"))
    );
    let image = Arc::new(engine.clone())
        .inspect_image("p-api")
        .await
        .unwrap();
    assert!(image.is_none());
}

#[tokio::test]
async fn build_args_land_and_bad_ones_are_refused() {
    let project =
        Project::new("services:\n  api:\n    build: {context: ./app, args: {GREETING: hi}}\n");
    app(&project);
    project.write(
        "app/Dockerfile",
        &format!("FROM {BASE}\nARG GREETING\nARG OTHER\n"),
    );
    let engine = engine();
    let options = BuildOptions {
        args: vec!["OTHER=x".into(), "UNUSED=1".into()],
        ..project.options()
    };
    let collect = Arc::new(Collect::default());
    build(
        Arc::new(engine.clone()),
        &project.load(),
        &["api".to_owned()],
        &options,
        collect.clone(),
    )
    .await
    .unwrap();
    let spec = &engine.builds()[0].spec;
    assert_eq!(spec.args["GREETING"], "hi");
    assert_eq!(spec.args["OTHER"], "x");
    assert!(
        collect
            .events()
            .iter()
            .any(|e| matches!(e, Event::Note { message } if message.contains("unused: UNUSED")))
    );
    let err = check_build_args(&["=x".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad build arg \"=x\": the name is empty (write NAME=VALUE)"
    );
}

#[test]
fn steps_and_exit_codes_are_read_from_the_builder() {
    assert_eq!(
        parse_step("Step 4/9 : RUN npm ci").as_deref(),
        Some("4/9 RUN npm ci")
    );
    assert_eq!(parse_step("Step x : RUN"), None);
    assert_eq!(parse_step(" ---> Running in abc"), None);
    assert_eq!(
        exit_code_of("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        Some(3)
    );
    assert!(is_chatter(" ---> 1234") && !is_chatter("npm ERR!"));
}

#[test]
fn labels_go_at_the_end_of_the_target_stage() {
    let text = "FROM a AS dev\nRUN x\nFROM a AS prod\nRUN y\n";
    let job_labels = BTreeMap::from([("k".to_owned(), "v $x \"q\"".to_owned())]);
    let dir = tempfile::tempdir().unwrap();
    let scan = Scan {
        root: dir.path().to_path_buf(),
        entries: Vec::new(),
        digest: String::new(),
        hashed: 0,
    };
    let mut job = test_job(text, Some("dev"));
    let files = sent_files(&job, &scan, &job_labels);
    assert_eq!(
        String::from_utf8_lossy(&files[0].content),
        "FROM a AS dev\nRUN x\nLABEL \"k\"=\"v \\$x \\\"q\\\"\"\nFROM a AS prod\nRUN y\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&files[1].content),
        ".dockerignore\n\n.muster.Dockerfile\n"
    );
    job.target = None;
    let files = sent_files(&job, &scan, &job_labels);
    assert!(
        String::from_utf8_lossy(&files[0].content)
            .ends_with("RUN y\nLABEL \"k\"=\"v \\$x \\\"q\\\"\"\n")
    );
}

fn test_job(text: &str, target: Option<&str>) -> Job {
    Job {
        services: vec!["s".into()],
        tags: vec!["t".into()],
        images: vec!["t".into()],
        context: PathBuf::new(),
        dockerfile_text: text.to_owned(),
        dockerfile_rel: None,
        rules: IgnoreRules::default(),
        parsed: Dockerfile::parse(text),
        target: target.map(str::to_owned),
        args: BTreeMap::new(),
        labels: BTreeMap::new(),
        no_cache: false,
        network: None,
        extra_hosts: Vec::new(),
        shm_size: None,
        cache_from: Vec::new(),
        force: None,
        service_deps: Vec::new(),
    }
}

#[test]
fn build_fields_the_classic_builder_cannot_apply_are_named() {
    let project = Project::new(
        "services:\n  api:\n    build: {context: ., ssh: [default], platforms: [linux/amd64], target: dev}\n",
    );
    let loaded = project.load();
    let build = loaded.project.services["api"].build.as_ref().unwrap();
    assert_eq!(
        ignored_build_fields(build),
        ["build.ssh", "build.platforms"]
    );
}

#[tokio::test]
async fn without_labels_the_cache_remembers_the_inputs() {
    let project = Project::new(APP);
    app(&project);
    let engine = engine();
    let options = BuildOptions {
        label_images: false,
        ..project.options()
    };
    let run = || {
        let engine = Arc::new(engine.clone());
        let loaded = project.load();
        let options = options.clone();
        async move {
            ensure_images(
                engine,
                &loaded,
                &["api".to_owned()],
                BuildPolicy::Auto,
                &options,
                Arc::new(Collect::default()),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(run().await.built.len(), 1);
    let image = Arc::new(engine.clone())
        .inspect_image("p-api")
        .await
        .unwrap()
        .unwrap();
    assert!(!image.labels.contains_key(labels::HASH));
    assert_eq!(run().await.up_to_date, ["api"]);
    project.write("app/src/main.js", "changed");
    assert_eq!(
        run().await.built[0].reason,
        "1 file changed since the image was built (src/main.js)"
    );
}

#[tokio::test]
async fn a_failed_build_skips_the_builds_that_use_its_image() {
    let project = Project::new("services:\n  base:\n    build: ./base\n  app:\n    build: ./app\n");
    project
        .write("base/Dockerfile", &format!("FROM {BASE}\n"))
        .write("app/Dockerfile", "FROM p-base\n");
    let engine = engine();
    engine.fail_next(
        Op::BuildImage,
        "p-base",
        "The command 'x' returned a non-zero code: 1",
    );
    let (result, events) = project.ensure(&engine, &["app"], BuildPolicy::Auto).await;
    let err = result.unwrap_err().to_string();
    assert!(err.starts_with("2 builds failed:"), "{err}");
    assert!(
        err.contains(
            "service \"app\" was not built: the build of \"base\", whose image it uses, failed"
        ),
        "{err}"
    );
    assert!(events.contains(&Event::Skipped {
        service: "app".into(),
        because: "the build of \"base\", whose image it uses, failed".into()
    }));
    assert!(engine.builds().is_empty());
}
