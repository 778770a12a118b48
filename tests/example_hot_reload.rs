//! `examples/hot-reload` works as its README says, from a clean copy on the
//! real engine: web waits for db's healthcheck, then an edit of each kind
//! reaches the running web service its own way while `muster watch` runs:
//! the bind-mounted `src/` at once and without any action, `static/`
//! through the sync rule, `deps.txt` through the rebuild rule (a new image,
//! a new container, db left alone). Each step waits for the action line
//! that says it happened, then asks web over HTTP.
//!
//! The copy gets a `compose.override.yaml` that publishes web on a port the
//! engine picks and puts the test's scope label on what it creates; the
//! images built (and those a rebuild replaced) are removed at the end.

mod common;
#[path = "support/engine.rs"]
mod engine_support;
#[path = "support/images.rs"]
mod images;
#[path = "support/stack.rs"]
mod stack_support;
#[path = "support/watch.rs"]
mod watch_support;

use std::net::SocketAddr;
use std::path::Path;

use engine_support::{SCOPE_LABEL, TEST_IMAGE, http_get, scope};
use images::Images;
use muster::engine::{Engine, Protocol};
use stack_support::Stack;
use watch_support::Watch;

/// The example's base image (scripts/seed-images.sh builds it).
const BASE: &str = "muster-examples/busybox:1";

/// Where web is published now (a recreated container gets a new port).
async fn web_address(stack: &Stack) -> SocketAddr {
    let details = stack
        .engine()
        .inspect_container(&stack.id("web"))
        .await
        .expect("inspect web");
    let (_, port) = details
        .published_port(8080, Protocol::Tcp)
        .expect("web publishes 8080");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The body of `GET path`, which must answer 200.
fn get(address: SocketAddr, path: &str) -> String {
    let answer = http_get(address, path);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.contains(" 200 "), "GET {path}:\n{answer}");
    body.to_owned()
}

/// Removes, at the end, the image web's container runs (a rebuild leaves
/// the previous one untagged).
async fn track_web_image(stack: &Stack, images: &Images) -> String {
    let details = stack
        .engine()
        .inspect_container(&stack.id("web"))
        .await
        .expect("inspect web");
    images.track(&details.image_id)
}

#[tokio::test]
async fn the_hot_reload_example_serves_mounted_synced_and_rebuilt_edits() {
    let Some(scope) = scope("example_hot_reload").await else {
        return;
    };
    // Dropped after the stack: the images of its containers go last, the
    // base's tag (when this test made it) very last.
    let images = Images::new();
    // The base is the same scratch+busybox image as the tests'; tag it so
    // when the machine lacks it.
    if scope
        .engine
        .inspect_image(BASE)
        .await
        .expect("inspect")
        .is_none()
    {
        scope
            .engine
            .tag_image(TEST_IMAGE, BASE)
            .await
            .expect("tag the base");
        images.track(BASE);
    }
    let stack = Stack::new(scope, "");
    // The example replaces the stack's compose.yaml.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hot-reload");
    common::copy_dir(&example, stack.root());
    let label = format!("labels: {{{SCOPE_LABEL}: {}}}", stack.name);
    std::fs::write(
        stack.root().join("compose.override.yaml"),
        format!(
            "services:\n  web:\n    ports: !override ['127.0.0.1::8080']\n    {label}\n  \
             db:\n    {label}\nnetworks:\n  default:\n    {label}\n"
        ),
    )
    .expect("write the override");
    images.track(&format!("{}-web", stack.name));
    let cache = tempfile::tempdir().expect("temp dir");
    let cache_home = cache.path().display().to_string();
    let up = stack
        .test(&["up", "-d", "--wait", "--progress", "plain"])
        .env("XDG_CACHE_HOME", &cache_home)
        .run()
        .success();
    images.track_layers(&up.stderr);
    assert!(
        up.stderr.contains("web: waiting for db (healthy)"),
        "{up:?}"
    );
    let first_image = track_web_image(&stack, &images).await;
    let db = stack.id("db");
    let web = stack.id("web");
    let address = web_address(&stack).await;
    assert!(get(address, "/src/index.html").contains("hello from the hot-reload example"));
    assert_eq!(get(address, "/static/style.css"), "h1 { color: teal; }\n");
    assert_eq!(get(address, "/vendor/installed.txt"), "left-pad 1.3.0\n");

    let mut watch = Watch::start(&stack, &cache, &["--no-up"]);
    watch.wait_for("watching web");

    // src/ is bind-mounted: the next request sees the edit, and watch has
    // nothing to do.
    let write = |path: &str, text: &str| {
        std::fs::write(stack.root().join(path), text).expect("write");
    };
    write("src/index.html", "<h1>edited through the bind mount</h1>\n");
    assert_eq!(
        get(address, "/src/index.html"),
        "<h1>edited through the bind mount</h1>\n"
    );
    assert_eq!(watch.count("web:"), 0, "{:#?}", watch.seen);

    // static/ is synced: copied into the running container.
    write("static/style.css", "h1 { color: crimson; }\n");
    watch.wait_for("web: synced 1 file in");
    assert_eq!(
        get(address, "/static/style.css"),
        "h1 { color: crimson; }\n"
    );
    assert_eq!(stack.id("web"), web, "a sync keeps the container");

    // deps.txt is baked into the image: rebuilt, web recreated, db kept.
    write("deps.txt", "left-pad 1.3.0\nis-even 1.0.0\n");
    watch.wait_for("web: rebuilt in");
    let second_image = track_web_image(&stack, &images).await;
    assert_ne!(second_image, first_image);
    assert_ne!(stack.id("web"), web, "a rebuild recreates web");
    assert_eq!(stack.id("db"), db, "db is left alone");
    let address = web_address(&stack).await;
    assert_eq!(
        get(address, "/vendor/installed.txt"),
        "left-pad 1.3.0\nis-even 1.0.0\n"
    );
    // The new image has the synced edit built in; the mount still serves
    // the source.
    assert_eq!(
        get(address, "/static/style.css"),
        "h1 { color: crimson; }\n"
    );
    assert_eq!(
        get(address, "/src/index.html"),
        "<h1>edited through the bind mount</h1>\n"
    );
    images.track_layers(&watch.seen.join("\n"));
    watch.interrupt();

    stack.muster(&["down"]).success();
    assert!(stack.containers().await.is_empty(), "down removes both");
}
