//! What a project's integration tests look like with muster's harness,
//! against the stack in `examples/harness/compose.yaml`.
//!
//! Run them with `cargo test --test example_harness`. Each test gets the
//! whole stack, ready (db healthy, migration done, api answering), under a
//! project name of its own, so the tests run in parallel; the stack is
//! removed when `stack` goes out of scope, also when an assertion fails.
//!
//! Coming from testcontainers: `Compose::file(..).up()` is
//! `DockerCompose::with_local_client(&[..]).up()` without the shell-out to
//! `docker compose`, and `stack.endpoint("api", 8080)` is
//! `compose.service("api")?.get_host_port_ipv4(8080)` with the host included.

// muster's own test set-up: it skips these tests when no Docker engine is
// reachable, builds the busybox image the compose file uses (there is no
// registry here; your project already has its images), and has a tiny HTTP
// client (`http_get`), so the example needs no HTTP crate.
#[path = "../../tests/support/engine.rs"]
mod engine_support;

use muster::harness::{Compose, Stack};

/// The example stack, up and ready; `None` without an engine.
async fn shop() -> Option<Stack> {
    engine_support::scope("example_harness").await?;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/harness/compose.yaml");
    Some(
        Compose::file(file)
            .up()
            .await
            .expect("the shop's stack comes up"),
    )
}

#[tokio::test]
async fn the_api_serves_what_the_migration_wrote() {
    let Some(stack) = shop().await else { return };
    // Where the engine published the api's port 8080: 127.0.0.1:<free port>.
    let api = stack.endpoint("api", 8080).expect("api publishes 8080");
    assert!(engine_support::http_get(api, "/schema.txt").contains("schema v1"));
    // The one-shot migration ran to completion before api started.
    assert!(
        stack
            .logs("migrate")
            .await
            .expect("logs")
            .contains("migrated to v1")
    );
}

#[tokio::test]
async fn the_database_can_be_inspected_and_restarted() {
    let Some(stack) = shop().await else { return };
    let out = stack
        .exec("db", ["cat", "/var/lib/db/schema.txt"])
        .await
        .expect("exec");
    assert_eq!(
        (out.exit_code, out.output.as_str()),
        (Some(0), "schema v1\n")
    );

    // Failure handling: take the database away and bring it back; `start`
    // returns once it is healthy again. Its host port may change.
    stack.restart("db").await.expect("db comes back");
    let db = stack.endpoint("db", 5432).expect("db publishes 5432");
    assert!(
        engine_support::http_get(db, "/schema.txt").contains("schema v1"),
        "data survived"
    );
}
