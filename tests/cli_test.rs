//! `muster test [SERVICE...] -- COMMAND...` as a user runs it: the real
//! binary, a real engine, a host command that sees the endpoints, and
//! nothing left behind however the command ends.

mod common;
#[path = "support/engine.rs"]
mod engine_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::Test;
use engine_support::{SCOPE_LABEL, TEST_IMAGE, TestScope, scope};
use muster::engine::{Engine, LabelFilter};

const PROJECT_LABEL: &str = "com.docker.compose.project";

/// Held by the tests that sweep test stacks (`down --all-test-projects`,
/// prune) or leave one for a sweep, so that one's sweep does not take the
/// other's stack away mid-test.
static SWEEPS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A project with `web` (httpd on 80, published) and `cache` (a sleeper
/// publishing 6379), every service carrying the scope label.
fn project(scope: &TestScope) -> Test {
    let common = format!(
        "image: {TEST_IMAGE}\n    init: true\n    labels: {{{SCOPE_LABEL}: {}}}",
        scope.scope
    );
    Test::named("shop").write(
        "compose.yaml",
        format!(
            "services:
  web:
    {common}
    command: [sh, -c, 'mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p 80 -h /www']
    ports: ['80']
  my-cache.v2:
    {common}
    command: [sleep, '600']
    ports: ['127.0.0.1::6379']
"
        ),
    )
}

/// The containers still on the engine for the scope, and for a project.
async fn left(scope: &TestScope, project: &str) -> (usize, usize) {
    let by_scope = scope
        .engine
        .list_containers(&scope.filter())
        .await
        .expect("list");
    let by_project = scope
        .engine
        .list_containers(&[LabelFilter::equals(PROJECT_LABEL, project)])
        .await
        .expect("list");
    (by_scope.len(), by_project.len())
}

#[tokio::test]
async fn the_command_s_exit_code_is_muster_s_and_nothing_is_left() {
    let Some(scope) = scope("cli_test_exit").await else {
        return;
    };
    let out = project(&scope)
        .args(["test", "--progress", "quiet", "--"])
        .args(["sh", "-c", "echo $MUSTER_PROJECT; exit 3"])
        .run();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let name = out.stdout.trim();
    assert!(name.starts_with("shop-t"), "{out:?}");
    assert_eq!(left(&scope, name).await, (0, 0));
}

#[tokio::test]
async fn the_endpoint_variables_reach_the_command() {
    let Some(scope) = scope("cli_test_env").await else {
        return;
    };
    let script = "echo web=$MUSTER_WEB_80; echo cache=$MUSTER_MY_CACHE_V2_6379; \
                  echo project=$MUSTER_PROJECT; cat \"$MUSTER_ENDPOINTS\"";
    let out = project(&scope)
        .args(["test", "--progress", "quiet", "--", "sh", "-c", script])
        .run()
        .success();
    let value = |key: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {out:?}"))
            .to_owned()
    };
    let web: std::net::SocketAddr = value("web").parse().expect("an address");
    let cache: std::net::SocketAddr = value("cache").parse().expect("an address");
    assert!(web.ip().is_loopback() && cache.ip().is_loopback());
    assert_ne!(web.port(), cache.port());
    let json_text = &out.stdout[out.stdout.find('{').expect("the JSON file")..];
    let json: serde_json::Value = serde_json::from_str(json_text).expect("valid JSON");
    assert_eq!(json["project"], value("project").as_str());
    let endpoints = json["endpoints"].as_array().expect("a list");
    assert_eq!(endpoints.len(), 2, "{json}");
    assert_eq!(endpoints[0]["variable"], "MUSTER_MY_CACHE_V2_6379");
    assert_eq!(endpoints[1]["service"], "web");
    assert_eq!(endpoints[1]["port"], 80);
    assert_eq!(endpoints[1]["address"], web.to_string());
    assert_eq!(left(&scope, &value("project")).await, (0, 0));
}

#[tokio::test]
async fn only_the_named_services_come_up_and_keep_leaves_them() {
    let Some(scope) = scope("cli_test_keep").await else {
        return;
    };
    let _sweeps = SWEEPS.lock().await;
    let test = project(&scope);
    let out = test
        .args(["test", "--keep", "--progress", "quiet", "web", "--"])
        .args([
            "sh",
            "-c",
            "echo $MUSTER_PROJECT; env | grep -c MUSTER_MY_CACHE || true",
        ])
        .run()
        .success();
    let mut lines = out.stdout.lines();
    let name = lines.next().expect("the project").to_owned();
    assert_eq!(lines.next(), Some("0"), "cache was not selected: {out:?}");
    assert!(
        out.stderr
            .contains(&format!("remove it with `muster down -p {name} -v`")),
        "{out:?}"
    );
    assert_eq!(left(&scope, &name).await, (1, 1));

    // `down --all-test-projects` removes kept stacks.
    Test::new()
        .args(["down", "--all-test-projects", "--progress", "quiet"])
        .run()
        .success();
    assert_eq!(left(&scope, &name).await, (0, 0));
}

/// Starts `muster test -- sh -c '...; exec sleep 600'` and reads, from
/// the command, the project name and the command's pid.
fn start(test: &Test) -> (std::process::Child, String, String) {
    let mut child = test
        .command()
        .args(["test", "--progress", "quiet", "--"])
        .args(["sh", "-c", "echo $MUSTER_PROJECT; echo $$; exec sleep 600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run muster test");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut name, mut pid) = (String::new(), String::new());
    stdout.read_line(&mut name).expect("the project name");
    stdout.read_line(&mut pid).expect("the command's pid");
    (child, name.trim().to_owned(), pid.trim().to_owned())
}

#[tokio::test]
async fn ctrl_c_removes_the_stack() {
    let Some(scope) = scope("cli_test_ctrl_c").await else {
        return;
    };
    let (mut child, name, _) = start(&project(&scope));
    assert_eq!(left(&scope, &name).await.1, 2, "the stack is up");

    // The interrupt goes to muster only (not to a terminal's whole
    // group): the first asks COMMAND to finish, the second kills it.
    let pid = child.id().to_string();
    let interrupt = || {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success());
    };
    interrupt();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("a note");
    assert!(line.contains("interrupted"), "{line}");
    interrupt();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(130));
    assert_eq!(left(&scope, &name).await, (0, 0));
    // No endpoints file left in the temp dir either.
    let file = muster::harness::endpoints_file(&name);
    assert!(!file.exists(), "{}", file.display());
}

#[tokio::test]
async fn the_stack_of_a_killed_test_process_is_pruned() {
    let Some(scope) = scope("cli_test_killed").await else {
        return;
    };
    let _sweeps = SWEEPS.lock().await;
    let (mut child, name, command_pid) = start(&project(&scope));
    // SIGKILL: muster gets no chance to clean up. Its command is ended too.
    child.kill().expect("kill muster");
    child.wait().expect("wait");
    std::process::Command::new("kill")
        .args(["-KILL", &command_pid])
        .status()
        .expect("run kill");
    assert_eq!(left(&scope, &name).await.1, 2, "the stack outlived muster");

    let pruned =
        muster::harness::owner::prune(&scope.engine, &muster::orchestrator::events::Silent)
            .await
            .expect("prune");
    assert!(pruned.contains(&name), "{pruned:?}");
    assert_eq!(left(&scope, &name).await, (0, 0));
    let file = muster::harness::endpoints_file(&name);
    assert!(!file.exists(), "{} is removed too", file.display());
}
