//! `muster watch` as a user runs it, on the real engine: sync rules (new,
//! changed and deleted files in nested directories; ignored and
//! `.gitignore`d paths left alone and unwatched), sync+exec, sync+restart,
//! rebuild rules (the container replaced, `restart: true` dependents
//! restarted and no others, a broken Dockerfile keeping the old container,
//! an edit during a rebuild not lost), a 5,000-file burst as one action,
//! an edit of compose.yaml, `.env` or an env_file converging the changed
//! service, `initial_sync`, deletes in images without `rm`, and the two
//! ways in: `up --watch` (logs and action lines; Ctrl-C stops the stack)
//! and `watch SERVICE` (brings it and its dependencies up, and down again).
//!
//! Most tests bring a small busybox stack up detached with the real binary,
//! run `muster watch --no-up` in the background and read its action lines
//! (stderr) as they come. Nothing is timed: each step waits (boundedly) for
//! the line that says it happened, then checks the engine.

mod common;
#[path = "support/engine.rs"]
mod engine_support;
#[path = "support/images.rs"]
mod images;
#[path = "support/stack.rs"]
mod stack_support;
#[path = "support/watch.rs"]
mod watch_support;

use engine_support::{SCOPE_LABEL, TEST_IMAGE, scope};
use images::Images;
use muster::engine::{Engine, ExecSpec};
use stack_support::Stack;
use watch_support::Watch;

/// What `cmd` prints in `container` and its exit code.
async fn run_in(stack: &Stack, container: &str, cmd: &[&str]) -> (Option<i64>, String) {
    let spec = ExecSpec {
        cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
        ..ExecSpec::default()
    };
    let out = stack.engine().exec(container, &spec).await.expect("exec");
    (out.exit_code, out.output)
}

fn write(stack: &Stack, path: &str, text: &str) {
    let path = stack.root().join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Removes, at the end, the image `service`'s container runs (a rebuild
/// leaves the previous one untagged).
async fn track_image(stack: &Stack, images: &Images, service: &str) {
    let details = stack
        .engine()
        .inspect_container(&stack.id(service))
        .await
        .expect("inspect");
    images.track(&details.image_id);
}

async fn started_at(stack: &Stack, container: &str) -> String {
    let details = stack
        .engine()
        .inspect_container(container)
        .await
        .expect("inspect");
    format!("{:?}", details.status.started_at)
}

#[tokio::test]
async fn sync_copies_new_changed_and_deleted_files_and_skips_ignored_ones() {
    let Some(scope) = scope("cli_watch_sync").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  app:\n    @\n    command: [sleep, '600']\n    develop:\n      watch:\n        \
         - {path: ./src, target: /app, action: sync, ignore: [skipped/]}\n",
    );
    let cache = tempfile::tempdir().expect("temp dir");
    for dir in [
        "src/a/b",
        "src/skipped/deep",
        "src/gen/deep",
        "src/node_modules/x",
        "src/.git/objects",
    ] {
        std::fs::create_dir_all(stack.root().join(dir)).expect("mkdir");
    }
    write(&stack, "src/.gitignore", "gen/\n");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let id = stack.id("app");
    let mut watch = Watch::start(&stack, &cache, &["--no-up", "--verbose"]);
    // The project directory (for compose.yaml and .env), src, src/a,
    // src/a/b: not the ignored, gitignored, node_modules, .git ones.
    watch.wait_for("(4 directories watched)");

    write(&stack, "src/a/b/new.txt", "new\n");
    watch.wait_for("app: synced 1 file");
    assert_eq!(
        run_in(&stack, &id, &["cat", "/app/a/b/new.txt"]).await,
        (Some(0), "new\n".into())
    );

    write(&stack, "src/a/b/new.txt", "changed\n");
    watch.wait_for("app: synced 1 file");
    assert_eq!(
        run_in(&stack, &id, &["cat", "/app/a/b/new.txt"]).await.1,
        "changed\n"
    );

    write(&stack, "src/skipped/deep/no.txt", "no\n");
    write(&stack, "src/gen/deep/no.txt", "no\n");
    write(&stack, "src/node_modules/x/no.txt", "no\n");
    std::fs::remove_file(stack.root().join("src/a/b/new.txt")).expect("rm");
    watch.wait_for("app: synced 1 file");
    assert_eq!(
        run_in(&stack, &id, &["test", "-e", "/app/a/b/new.txt"])
            .await
            .0,
        Some(1)
    );
    for path in ["/app/skipped", "/app/gen", "/app/node_modules"] {
        assert_eq!(
            run_in(&stack, &id, &["test", "-e", path]).await.0,
            Some(1),
            "{path}"
        );
    }
    watch.interrupt();
}

/// The ways editors and tools save a file.
const EDITORS: [&str; 3] = ["atomic write", "vim", "JetBrains"];

/// Saves `text` into the existing `file` as `editor` does.
fn save_as(editor: &str, file: &std::path::Path, text: &str) {
    use std::fs::{remove_file, rename, write};
    let dir = file.parent().expect("dir");
    let name = file.file_name().expect("name").to_string_lossy();
    let beside = |suffix: &str| dir.join(format!("{name}{suffix}"));
    match editor {
        // A temporary file renamed over the real one.
        "atomic write" => {
            write(beside(".tmp4821"), text).expect("write");
            rename(beside(".tmp4821"), file).expect("rename");
        }
        // A swap file, a probe file, the old file renamed to a backup.
        "vim" => {
            let swap = dir.join(format!(".{name}.swp"));
            write(&swap, "swap").expect("write");
            write(dir.join("4913"), "").expect("write");
            remove_file(dir.join("4913")).expect("rm");
            rename(file, beside("~")).expect("rename");
            write(file, text).expect("write");
            remove_file(beside("~")).expect("rm");
            remove_file(&swap).expect("rm");
        }
        // "Safe write": new and old copies beside it, renamed.
        "JetBrains" => {
            write(beside("___jb_tmp___"), text).expect("write");
            rename(file, beside("___jb_old___")).expect("rename");
            rename(beside("___jb_tmp___"), file).expect("rename");
            remove_file(beside("___jb_old___")).expect("rm");
        }
        other => panic!("no editor {other}"),
    }
}

#[tokio::test]
async fn an_editor_save_is_one_change_whatever_the_editor() {
    let Some(scope) = scope("cli_watch_saves").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  app:\n    @\n    command: [sleep, '600']\n    develop:\n      watch:\n        \
         - {path: ./src, target: /app, action: sync}\n",
    );
    let page = stack.root().join("src/page.html");
    write(&stack, "src/page.html", "first\n");
    let cache = tempfile::tempdir().expect("temp dir");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let id = stack.id("app");
    // A long quiet period, so that a save's steps fall in one batch
    // however slowly this machine runs them.
    let mut watch = Watch::start(&stack, &cache, &["--no-up", "--quiet-ms", "500"]);
    watch.wait_for("watching");
    for editor in EDITORS {
        let text = format!("saved by {editor}\n");
        save_as(editor, &page, &text);
        let line = watch.wait_for("app: synced");
        assert!(line.contains("app: synced 1 file in"), "{editor}: {line}");
        assert_eq!(
            run_in(&stack, &id, &["ls", "-A", "/app"]).await.1,
            "page.html\n",
            "{editor}: nothing but the file reaches the container"
        );
        assert_eq!(
            run_in(&stack, &id, &["cat", "/app/page.html"]).await.1,
            text,
            "{editor}"
        );
    }
    assert_eq!(watch.count("synced"), EDITORS.len(), "{:#?}", watch.seen);
    watch.interrupt();
}

#[tokio::test]
async fn sync_exec_runs_the_command_and_sync_restart_and_restart_restart() {
    let Some(scope) = scope("cli_watch_exec").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  app:\n    @\n    command: [sleep, '600']\n    develop:\n      watch:\n        \
         - {path: ./conf, target: /conf, action: sync+exec, exec: {command: [sh, -c, 'cat /conf/x > /ran']}}\n  \
         other:\n    @\n    command: [sleep, '600']\n    develop:\n      watch:\n        \
         - {path: ./other, target: /other, action: sync+restart}\n  \
         plain:\n    @\n    command: [sleep, '600']\n    develop:\n      watch:\n        \
         - {path: ./plain.conf, action: restart}\n",
    );
    let cache = tempfile::tempdir().expect("temp dir");
    write(&stack, "plain.conf", "one\n");
    std::fs::create_dir_all(stack.root().join("conf")).expect("mkdir");
    std::fs::create_dir_all(stack.root().join("other")).expect("mkdir");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let app = stack.id("app");
    let other = stack.id("other");
    let before = started_at(&stack, &other).await;
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("watching");

    write(&stack, "conf/x", "one\n");
    watch.wait_for("app: ran sh -c");
    assert_eq!(run_in(&stack, &app, &["cat", "/ran"]).await.1, "one\n");

    write(&stack, "other/y", "two\n");
    watch.wait_for("other: restarted");
    assert_eq!(
        run_in(&stack, &other, &["cat", "/other/y"]).await.1,
        "two\n"
    );
    assert_ne!(started_at(&stack, &other).await, before);

    let plain = stack.id("plain");
    let before = started_at(&stack, &plain).await;
    write(&stack, "plain.conf", "two\n");
    watch.wait_for("plain: restarted");
    assert_eq!(stack.id("plain"), plain, "the same container");
    assert_ne!(started_at(&stack, &plain).await, before);
    watch.interrupt();
}

#[tokio::test]
async fn a_burst_of_5000_files_is_one_action() {
    let Some(scope) = scope("cli_watch_burst").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  app:\n    @\n    command: [sleep, '600']\n    develop:\n      watch:\n        \
         - {path: ./src, target: /src, action: sync}\n",
    );
    let cache = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(stack.root().join("src/many")).expect("mkdir");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let id = stack.id("app");
    // A quiet period long enough that a loaded machine writing the burst
    // never pauses that long between two files: what is tested is that
    // one batch makes one action, not how fast the files are written.
    let mut watch = Watch::start(&stack, &cache, &["--no-up", "--quiet-ms", "2000"]);
    watch.wait_for("watching");
    for i in 0..5000 {
        std::fs::write(
            stack.root().join(format!("src/many/f{i}.txt")),
            format!("{i}\n"),
        )
        .expect("write");
    }
    watch.wait_for("app: synced 5000 files");
    assert_eq!(watch.count("synced"), 1, "{:#?}", watch.seen);
    assert_eq!(
        run_in(&stack, &id, &["cat", "/src/many/f4999.txt"]).await.1,
        "4999\n"
    );
    watch.interrupt();
}

/// The head of service `name` built from `context`, with what `@` gives an
/// image service (a quick stop, the scope label); its image is removed at
/// the end.
fn built(stack: &Stack, images: &Images, name: &str, context: &str) -> String {
    images.track(&format!("{}-{name}", stack.name));
    format!(
        "  {name}:\n    build: {context}\n    init: true\n    stop_grace_period: 1s\n    \
         labels: {{{SCOPE_LABEL}: {}}}\n",
        stack.name
    )
}

/// `up -d` with `cache` as muster's cache (give `watch` the same one); the
/// layers built are removed at the end.
fn up_built(stack: &Stack, cache: &tempfile::TempDir, images: &Images) {
    let up = stack
        .test(&["up", "-d", "--progress", "plain"])
        .env("XDG_CACHE_HOME", &cache.path().display().to_string())
        .run()
        .success();
    images.track_layers(&up.stderr);
}

/// `web` built from a Dockerfile that bakes `baked.txt` in; `worker`
/// depends on it with `restart: true`, `other` without.
fn rebuild_stack(stack: &Stack, images: &Images) {
    let body = format!(
        "{}    command: [sleep, '600']\n    develop:\n      watch:\n        \
         - {{path: ./web, action: rebuild}}\n  \
         worker:\n    @\n    command: [sleep, '600']\n    depends_on:\n      web: {{condition: service_started, restart: true}}\n  \
         other:\n    @\n    command: [sleep, '600']\n    depends_on: [web]\n",
        built(stack, images, "web", "./web")
    );
    stack.write(&body);
    write(
        stack,
        "web/Dockerfile",
        &format!("FROM {TEST_IMAGE}\nCOPY baked.txt /baked.txt\n"),
    );
    write(stack, "web/baked.txt", "one\n");
}

#[tokio::test]
async fn rebuild_replaces_the_container_restarts_restart_true_dependents_and_keeps_it_when_broken()
{
    let Some(scope) = scope("cli_watch_rebuild").await else {
        return;
    };
    // Dropped after the stack: the images of its containers go last.
    let images = Images::new();
    let stack = Stack::new(scope, "");
    rebuild_stack(&stack, &images);
    let cache = tempfile::tempdir().expect("temp dir");
    up_built(&stack, &cache, &images);
    track_image(&stack, &images, "web").await;
    let web = stack.id("web");
    let worker_started = started_at(&stack, &stack.id("worker")).await;
    let other_started = started_at(&stack, &stack.id("other")).await;
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("watching");

    write(&stack, "web/baked.txt", "two\n");
    // "web: rebuilt in 1.2 s, recreated, ready in 310 ms": the build's own
    // time, then the time from the build's end to ready.
    let line = watch.wait_for("web: rebuilt in");
    let build = line
        .split("rebuilt in ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("build time");
    assert_ne!(build, "0 ms", "{line}");
    assert!(line.contains(", recreated, ready in "), "{line}");
    watch.wait_for("worker: restarted (depends on web)");
    track_image(&stack, &images, "web").await;
    let new_web = stack.id("web");
    assert_ne!(new_web, web);
    assert_eq!(
        run_in(&stack, &new_web, &["cat", "/baked.txt"]).await.1,
        "two\n"
    );
    assert_ne!(
        started_at(&stack, &stack.id("worker")).await,
        worker_started
    );
    assert_eq!(started_at(&stack, &stack.id("other")).await, other_started);

    // A broken Dockerfile: the failing step is said, the container stays.
    write(
        &stack,
        "web/Dockerfile",
        &format!("FROM {TEST_IMAGE}\nRUN echo the compiler says no; exit 3\n"),
    );
    let line = watch.wait_for("running containers are kept");
    assert!(
        line.contains("web: ")
            && line.contains("failed at step 2/3 RUN echo the compiler says no; exit 3"),
        "{:#?}",
        watch.seen
    );
    // The failed build's output is shown (in the error's detail lines);
    // a good build's steps are not.
    watch.wait_for("| the compiler says no");
    assert!(
        !watch.seen.iter().any(|l| l.contains("COPY baked.txt")),
        "no build steps: {:#?}",
        watch.seen
    );
    assert_eq!(stack.id("web"), new_web);
    // The next change tries again.
    write(
        &stack,
        "web/Dockerfile",
        &format!("FROM {TEST_IMAGE}\nCOPY baked.txt /baked.txt\n"),
    );
    write(&stack, "web/baked.txt", "three\n");
    watch.wait_for("web: rebuilt in");
    track_image(&stack, &images, "web").await;
    let last = stack.id("web");
    assert_eq!(
        run_in(&stack, &last, &["cat", "/baked.txt"]).await.1,
        "three\n"
    );
    images.track_layers(&watch.seen.join("\n"));
    watch.interrupt();
}

#[tokio::test]
async fn services_that_share_a_build_are_rebuilt_once() {
    let Some(scope) = scope("cli_watch_shared").await else {
        return;
    };
    // Dropped after the stack: the images of its containers go last.
    let images = Images::new();
    let stack = Stack::new(scope, "");
    let service = |name: &str| {
        format!(
            "{}    command: [sleep, '600']\n    develop:\n      watch:\n        - {{path: ./app, action: rebuild}}\n",
            built(&stack, &images, name, "./app")
        )
    };
    stack.write(&format!("{}{}", service("api"), service("jobs")));
    write(
        &stack,
        "app/Dockerfile",
        &format!("FROM {TEST_IMAGE}\nCOPY baked.txt /baked.txt\n"),
    );
    write(&stack, "app/baked.txt", "one\n");
    let cache = tempfile::tempdir().expect("temp dir");
    up_built(&stack, &cache, &images);
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("watching");
    let before = watch.seen.len();
    write(&stack, "app/baked.txt", "two\n");
    watch.wait_for_each(&["api: rebuilt in", "jobs: rebuilt in"]);
    images.track_layers(&watch.seen.join("\n"));
    for service in ["api", "jobs"] {
        track_image(&stack, &images, service).await;
        assert_eq!(
            run_in(&stack, &stack.id(service), &["cat", "/baked.txt"])
                .await
                .1,
            "two\n"
        );
    }
    assert!(
        watch.seen[before..]
            .iter()
            .any(|l| l.contains("services api, jobs share one build: building it once")),
        "{:#?}",
        watch.seen
    );
    let mut image_ids = Vec::new();
    for service in ["api", "jobs"] {
        let details = stack
            .engine()
            .inspect_container(&stack.id(service))
            .await
            .expect("inspect");
        image_ids.push(details.image_id);
    }
    assert_eq!(image_ids[0], image_ids[1], "one image, built once");
    watch.interrupt();
}

#[tokio::test]
async fn editing_compose_yaml_converges_the_changed_service() {
    let Some(scope) = scope("cli_watch_reload").await else {
        return;
    };
    let body = |value: &str| {
        format!(
            "  app:\n    @\n    command: [sleep, '600']\n    environment: {{MODE: {value}}}\n    develop:\n      watch:\n        \
             - {{path: ./src, target: /src, action: sync}}\n  \
             still:\n    @\n    command: [sleep, '600']\n"
        )
    };
    let stack = Stack::new(scope, &body("one"));
    let cache = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(stack.root().join("src")).expect("mkdir");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let app = stack.id("app");
    let still = stack.id("still");
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("watching");
    stack.write(&body("two"));
    watch.wait_for("compose.yaml changed");
    let new_app = stack.id("app");
    assert_ne!(new_app, app);
    assert_eq!(stack.id("still"), still);
    assert_eq!(
        run_in(&stack, &new_app, &["sh", "-c", "echo $MODE"])
            .await
            .1,
        "two\n"
    );
    // And it goes on watching.
    write(&stack, "src/after.txt", "after\n");
    watch.wait_for("app: synced 1 file");
    assert_eq!(
        run_in(&stack, &new_app, &["cat", "/src/after.txt"]).await.1,
        "after\n"
    );
    watch.interrupt();
}

#[tokio::test]
async fn an_edit_during_a_rebuild_is_not_lost() {
    let Some(scope) = scope("cli_watch_queued").await else {
        return;
    };
    // Dropped after the stack: the images of its containers go last.
    let images = Images::new();
    let stack = Stack::new(scope, "");
    rebuild_stack(&stack, &images);
    // A slow step, so that the second edit lands while it runs.
    write(
        &stack,
        "web/Dockerfile",
        &format!("FROM {TEST_IMAGE}\nCOPY baked.txt /baked.txt\nRUN sleep 2\n"),
    );
    let cache = tempfile::tempdir().expect("temp dir");
    up_built(&stack, &cache, &images);
    track_image(&stack, &images, "web").await;
    // Verbose: the build's steps are shown.
    let mut watch = Watch::start(&stack, &cache, &["--no-up", "--verbose"]);
    watch.wait_for("watching");
    write(&stack, "web/baked.txt", "two\n");
    watch.wait_for("web: building: 3/4 RUN sleep 2");
    write(&stack, "web/baked.txt", "three\n");
    watch.wait_for("web: rebuilt in");
    track_image(&stack, &images, "web").await;
    watch.wait_for("web: rebuilt in");
    track_image(&stack, &images, "web").await;
    let web = stack.id("web");
    assert_eq!(
        run_in(&stack, &web, &["cat", "/baked.txt"]).await.1,
        "three\n"
    );
    images.track_layers(&watch.seen.join("\n"));
    watch.interrupt();
}

#[tokio::test]
async fn a_bind_mounted_file_is_served_at_once_and_not_synced() {
    let Some(scope) = scope("cli_watch_bind").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  web:\n    @\n    command: [httpd, -f, -p, '8080', -h, /www]\n    ports: ['127.0.0.1:0:8080']\n    \
         volumes: ['./www:/www']\n    develop:\n      watch:\n        \
         - {path: ./www, target: /www, action: sync}\n        - {path: ./conf, target: /conf, action: sync}\n",
    );
    let cache = tempfile::tempdir().expect("temp dir");
    write(&stack, "www/index.html", "one\n");
    std::fs::create_dir_all(stack.root().join("conf")).expect("mkdir");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let id = stack.id("web");
    let details = stack
        .engine()
        .inspect_container(&id)
        .await
        .expect("inspect");
    let port = details
        .ports
        .iter()
        .find_map(|p| p.host_port)
        .expect("a published port");
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("www (/www) is bind-mounted");
    watch.wait_for("watching");
    write(&stack, "www/index.html", "two\n");
    let answer = engine_support::http_get(std::net::SocketAddr::from(([127, 0, 0, 1], port)), "/");
    assert!(answer.ends_with("two\n"), "{answer}");
    assert_eq!(watch.count("synced"), 0, "{:#?}", watch.seen);
    watch.interrupt();
}

/// The services of `stack` and their states, from `ps -a`.
fn states(stack: &Stack) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = stack
        .ps(true)
        .iter()
        .map(|r| {
            (
                r["Service"].as_str().unwrap_or_default().to_owned(),
                r["State"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(s, state)| ((*s).to_owned(), (*state).to_owned()))
        .collect()
}

#[tokio::test]
async fn up_watch_streams_prefixed_logs_between_action_lines_and_ctrl_c_stops_the_stack() {
    let Some(scope) = scope("cli_watch_up").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  app:\n    @\n    command: [sh, -c, 'echo app is up; exec sleep 600']\n    depends_on: [db]\n    \
         develop:\n      watch:\n        - {path: ./src, target: /src, action: sync}\n  \
         db:\n    @\n    command: [sh, -c, 'echo db is up; exec sleep 600']\n",
    );
    std::fs::create_dir_all(stack.root().join("src")).expect("mkdir");
    let cache = tempfile::tempdir().expect("temp dir");
    let mut watch = Watch::spawn(&stack, &cache, &["up", "--watch"]);
    watch.wait_for("watching app");
    write(&stack, "src/index.html", "hello\n");
    watch.wait_for("app: synced 1 file in");
    assert_eq!(
        run_in(&stack, &stack.id("app"), &["cat", "/src/index.html"])
            .await
            .1,
        "hello\n"
    );
    let stdout = watch.interrupt();
    for (prefix, text) in [("app-1 ", "| app is up"), ("db-1 ", "| db is up")] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(prefix) && l.ends_with(text)),
            "{prefix}...{text} in\n{stdout}"
        );
    }
    assert_eq!(
        states(&stack),
        pairs(&[("app", "exited"), ("db", "exited")]),
        "Ctrl-C stops the stack that `up --watch` brought up"
    );
}

#[tokio::test]
async fn watch_of_one_service_brings_it_and_its_dependencies_up_and_stops_them_on_ctrl_c() {
    let Some(scope) = scope("cli_watch_one").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  app:\n    @\n    command: [sleep, '600']\n    depends_on:\n      db: {condition: service_healthy}\n    \
         develop:\n      watch:\n        - {path: ./src, target: /src, action: sync}\n  \
         db:\n    @\n    command: [sleep, '600']\n    \
         healthcheck: {test: [CMD, 'true'], interval: 100ms, start_period: 1s, start_interval: 100ms}\n  \
         other:\n    @\n    command: [sleep, '600']\n    \
         develop:\n      watch:\n        - {path: ./other, target: /other, action: sync}\n",
    );
    std::fs::create_dir_all(stack.root().join("src")).expect("mkdir");
    std::fs::create_dir_all(stack.root().join("other")).expect("mkdir");
    let cache = tempfile::tempdir().expect("temp dir");
    let mut watch = Watch::start(&stack, &cache, &["--progress", "plain", "app"]);
    watch.wait_for("watching app");
    assert_eq!(
        states(&stack),
        pairs(&[("app", "running"), ("db", "running")]),
        "`watch app` brings up app and what it depends on, nothing else"
    );
    write(&stack, "other/ignored.txt", "not watched\n");
    write(&stack, "src/a.txt", "a\n");
    watch.wait_for("app: synced 1 file");
    watch.interrupt();
    assert_eq!(
        states(&stack),
        pairs(&[("app", "exited"), ("db", "exited")]),
        "Ctrl-C stops what `watch` brought up, dependencies included"
    );
}

#[tokio::test]
async fn initial_sync_copies_the_tree_at_the_start_and_into_recreated_containers() {
    let Some(scope) = scope("cli_watch_initial").await else {
        return;
    };
    let body = |mode: &str| {
        format!(
            "  app:\n    @\n    command: [sleep, '600']\n    environment: {{MODE: {mode}}}\n    \
             develop:\n      watch:\n        \
             - {{path: ./src, target: /app, action: sync, initial_sync: true, ignore: [skip.txt]}}\n  \
             lazy:\n    @\n    command: [sleep, '600']\n    develop:\n      watch:\n        \
             - {{path: ./src, target: /app, action: sync}}\n"
        )
    };
    let stack = Stack::new(scope, &body("one"));
    write(&stack, "src/one.txt", "one\n");
    write(&stack, "src/deep/two.txt", "two\n");
    write(&stack, "src/skip.txt", "skip\n");
    let cache = tempfile::tempdir().expect("temp dir");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("app: synced 2 files");
    let app = stack.id("app");
    assert_eq!(
        run_in(&stack, &app, &["cat", "/app/one.txt", "/app/deep/two.txt"])
            .await
            .1,
        "one\ntwo\n"
    );
    assert_eq!(
        run_in(&stack, &app, &["test", "-e", "/app/skip.txt"])
            .await
            .0,
        Some(1),
        "ignored files are not synced at the start either"
    );
    assert_eq!(
        run_in(&stack, &stack.id("lazy"), &["test", "-e", "/app"])
            .await
            .0,
        Some(1),
        "without initial_sync nothing is copied before a change"
    );

    // A new container starts from the image: the tree is copied into it.
    stack.write(&body("two"));
    watch.wait_for_each(&["compose.yaml changed", "app: synced 2 files"]);
    let new_app = stack.id("app");
    assert_ne!(new_app, app);
    assert_eq!(
        run_in(
            &stack,
            &new_app,
            &["cat", "/app/one.txt", "/app/deep/two.txt"]
        )
        .await
        .1,
        "one\ntwo\n"
    );
    watch.interrupt();
}

#[tokio::test]
async fn editing_env_or_an_env_file_recreates_the_services_that_use_it() {
    let Some(scope) = scope("cli_watch_env").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  app:\n    @\n    command: [sleep, '600']\n    environment: {MODE: \"${MODE}\"}\n    \
         env_file: [app.env]\n    develop:\n      watch:\n        - {path: ./src, target: /src, action: sync}\n  \
         still:\n    @\n    command: [sleep, '600']\n",
    );
    std::fs::create_dir_all(stack.root().join("src")).expect("mkdir");
    write(&stack, ".env", "MODE=one\n");
    write(&stack, "app.env", "LEVEL=low\n");
    let cache = tempfile::tempdir().expect("temp dir");
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let still = stack.id("still");
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("watching");

    write(&stack, ".env", "MODE=two\n");
    watch.wait_for("/.env changed: read the project again");
    assert_eq!(
        run_in(&stack, &stack.id("app"), &["sh", "-c", "echo $MODE $LEVEL"])
            .await
            .1,
        "two low\n"
    );

    write(&stack, "app.env", "LEVEL=high\n");
    watch.wait_for("/app.env changed: read the project again");
    assert_eq!(
        run_in(&stack, &stack.id("app"), &["sh", "-c", "echo $MODE $LEVEL"])
            .await
            .1,
        "two high\n"
    );
    assert_eq!(
        stack.id("still"),
        still,
        "a service that uses neither stays"
    );
    watch.interrupt();
}

#[tokio::test]
async fn deletes_use_busybox_without_rm_and_say_what_to_do_without_either() {
    let Some(scope) = scope("cli_watch_rmless").await else {
        return;
    };
    // Dropped after the stack: the images of its containers go last.
    let images = Images::new();
    let stack = Stack::new(scope, "");
    let service = |name: &str, command: &str| {
        format!(
            "{}    command: {command}\n    develop:\n      watch:\n        \
             - {{path: ./src, target: /{name}, action: sync}}\n",
            built(&stack, &images, name, &format!("./{name}"))
        )
    };
    stack.write(&format!(
        "{}{}",
        service("slim", "[sleep, '600']"),
        service("bare", "[/opt/busybox, sleep, '600']")
    ));
    // No `rm` link: busybox is there to run it.
    write(
        &stack,
        "slim/Dockerfile",
        &format!("FROM {TEST_IMAGE}\nRUN rm /bin/rm\n"),
    );
    // Neither `rm` nor `busybox` on the PATH.
    write(
        &stack,
        "bare/Dockerfile",
        &format!(
            "FROM {TEST_IMAGE}\nRUN mkdir /opt && cp /bin/busybox /opt/ && /opt/busybox rm /bin/rm /bin/busybox\n"
        ),
    );
    write(&stack, "src/doomed.txt", "doomed\n");
    let cache = tempfile::tempdir().expect("temp dir");
    up_built(&stack, &cache, &images);
    let (slim, bare) = (stack.id("slim"), stack.id("bare"));
    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("watching");
    write(&stack, "src/doomed.txt", "still here\n");
    watch.wait_for_each(&["slim: synced 1 file", "bare: synced 1 file"]);
    assert_eq!(
        run_in(&stack, &bare, &["/opt/busybox", "cat", "/bare/doomed.txt"])
            .await
            .1,
        "still here\n"
    );

    std::fs::remove_file(stack.root().join("src/doomed.txt")).expect("rm");
    watch.wait_for_each(&[
        "slim: synced 1 file",
        "bare: cannot delete /bare/doomed.txt",
    ]);
    assert_eq!(
        run_in(&stack, &slim, &["test", "-e", "/slim/doomed.txt"])
            .await
            .0,
        Some(1),
        "deleted with `busybox rm`"
    );
    let line = watch
        .seen
        .iter()
        .find(|l| l.contains("bare: cannot delete"))
        .expect("the failed delete");
    assert!(
        line.contains("neither `rm` nor `busybox`") && line.contains("bind-mount"),
        "{line}"
    );
    watch.interrupt();
}
