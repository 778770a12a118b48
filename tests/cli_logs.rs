//! `muster logs` as a user runs it, on the real engine: which lines it
//! selects, how it prefixes them, following across recreation, scaling and
//! restarts, bytes that are not text, huge lines, TTY containers, and a
//! pipe that closes early.
//!
//! Each test brings a small busybox stack up detached with the real
//! binary and reads it with `muster logs`; the [`Stack`] guard takes it
//! down. Without an engine the tests skip with a note, unless `CI` is set.

mod common;
#[path = "support/engine.rs"]
mod engine_support;
#[path = "support/stack.rs"]
mod stack_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use engine_support::scope;
use muster::engine::Engine;
use stack_support::{Lines, Running, Stack, drain, wait_bounded};

/// Brings the stack up detached and waits until `container` printed
/// `marker` (so that what the test reads is all there).
async fn up(stack: &Stack, container: &str, marker: &str) {
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    stack.logs_with(container, marker).await;
}

/// The lines `muster logs ARGS` prints (it must succeed).
fn logs(stack: &Stack, args: &[&str]) -> Vec<String> {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    let out = stack.muster(&all).success();
    assert_eq!(out.stderr, "", "{out:?}");
    out.stdout.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn tail_since_and_until_select_the_right_lines() {
    let Some(scope) = scope("logs_select").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  counter:
    @
    command: [sh, -c, 'for i in 1 2 3; do echo early $$i; done; sleep 1.2; for i in 1 2 3; do echo late $$i; done; exec sleep 600']
",
    );
    let name = format!("{}-counter-1", stack.name);
    up(&stack, &name, "late 3").await;

    assert_eq!(
        logs(&stack, &["--no-log-prefix", "--tail", "2", "counter"]),
        ["late 2", "late 3"]
    );
    assert_eq!(logs(&stack, &["-n", "all", "counter"]).len(), 6);

    // The engine's own time of `late 1`, as -t shows it.
    let stamped = logs(&stack, &["-t", "--no-log-prefix"]);
    let late1 = stamped
        .iter()
        .find_map(|l| l.strip_suffix(" late 1"))
        .unwrap_or_else(|| panic!("no late 1 in {stamped:#?}"))
        .to_owned();
    let early3 = stamped
        .iter()
        .find_map(|l| l.strip_suffix(" early 3"))
        .unwrap_or_else(|| panic!("no early 3 in {stamped:#?}"))
        .to_owned();
    assert_eq!(
        logs(&stack, &["--no-log-prefix", "--since", &late1]),
        ["late 1", "late 2", "late 3"]
    );
    assert_eq!(
        logs(&stack, &["--no-log-prefix", "--until", &early3]),
        ["early 1", "early 2", "early 3"]
    );
    // A duration counts back from now: everything is younger than an hour.
    assert_eq!(logs(&stack, &["--since", "1h"]).len(), 6);

    let bad = stack.muster(&["logs", "--since", "yesterday-ish"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(bad.stderr.contains("RFC 3339"), "{bad:?}");
}

#[tokio::test]
async fn two_services_are_merged_with_padded_prefixes_and_as_json() {
    let Some(scope) = scope("logs_merge").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  a:
    @
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo a$$i; echo a-err$$i >&2; done; exec sleep 600']
  bb:
    @
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo b$$i; done; exec sleep 600']
",
    );
    up(&stack, &format!("{}-a-1", stack.name), "a-err5").await;
    stack.logs_with(&format!("{}-bb-1", stack.name), "b5").await;

    let lines = logs(&stack, &[]);
    for i in 1..=5 {
        for expected in [
            format!("a-1  | a{i}"),
            format!("a-1  | a-err{i}"),
            format!("bb-1 | b{i}"),
        ] {
            assert!(lines.contains(&expected), "no {expected:?} in {lines:#?}");
        }
    }
    assert_eq!(lines.len(), 15, "{lines:#?}");
    // Order within a container is kept (per stream, as the engine keeps it).
    let bs: Vec<&String> = lines.iter().filter(|l| l.starts_with("bb-1")).collect();
    assert_eq!(
        bs,
        [
            "bb-1 | b1",
            "bb-1 | b2",
            "bb-1 | b3",
            "bb-1 | b4",
            "bb-1 | b5"
        ]
    );

    let only_a = logs(&stack, &["a", "--index", "1", "--no-log-prefix"]);
    assert_eq!(only_a.len(), 10, "{only_a:#?}");

    let json = logs(&stack, &["--format", "json", "bb"]);
    assert_eq!(json.len(), 5);
    let first: serde_json::Value = serde_json::from_str(&json[0]).expect("a JSON object");
    assert_eq!(first["service"], "bb");
    assert_eq!(first["container"], format!("{}-bb-1", stack.name));
    assert_eq!(first["stream"], "stdout");
    assert_eq!(first["message"], "b1");
    assert!(
        first["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{first}"
    );
    let errors = logs(&stack, &["--format", "json", "a"]);
    assert!(
        errors.iter().any(|l| l.contains(r#""stream":"stderr""#)),
        "{errors:#?}"
    );

    // No compose file needed: the project name is enough.
    let elsewhere = common::Test::new()
        .args(["-p", stack.name.as_str(), "logs", "bb"])
        .run()
        .success();
    assert_eq!(elsewhere.stdout.lines().count(), 5, "{elsewhere:?}");
}

#[tokio::test]
async fn bytes_that_are_not_utf8_a_1mb_line_and_a_tty_pass_through() {
    let Some(scope) = scope("logs_bytes").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        r"  raw:
    @
    command: [sh, -c, 'printf ''bad \377\376 bytes\r\n''; head -c 1048576 /dev/zero | tr ''\0'' x; echo; echo end; exec sleep 600']
  tty:
    @
    tty: true
    command: [sh, -c, 'echo tty says hi; head -c 40000 /dev/zero | tr ''\0'' y; echo; echo tty end; exec sleep 600']
",
    );
    up(&stack, &format!("{}-raw-1", stack.name), "end").await;
    stack
        .logs_with(&format!("{}-tty-1", stack.name), "tty end")
        .await;

    let big = "x".repeat(1_048_576);
    for args in [
        &["--no-log-prefix", "raw"][..],
        &["--no-log-prefix", "-t", "raw"],
    ] {
        let lines = logs(&stack, args);
        let texts: Vec<&str> = lines
            .iter()
            .map(|l| {
                if args.contains(&"-t") {
                    l.split_once(' ').map_or(l.as_str(), |(_, rest)| rest)
                } else {
                    l.as_str()
                }
            })
            .collect();
        assert_eq!(texts.len(), 3, "{args:?}: {} lines", texts.len());
        assert_eq!(texts[0], "bad \u{fffd}\u{fffd} bytes", "{args:?}");
        assert!(texts[1] == big, "{args:?}: the 1 MB line is not whole");
        assert_eq!(texts[2], "end", "{args:?}");
    }
    // JSON reads with timestamps: the log driver's 16 KiB pieces of the long
    // line are joined without the timestamps between them.
    let json = logs(&stack, &["--format", "json", "raw"]);
    let message: serde_json::Value = serde_json::from_str(&json[1]).expect("JSON");
    assert!(message["message"] == big.as_str(), "the 1 MB line in JSON");

    // A TTY's raw stream: its `\r\n` read as line ends, and a 40 KB line
    // whole, also with the timestamps of its 16 KiB pieces taken out.
    let ys = "y".repeat(40_000);
    let tty = logs(&stack, &["tty"]);
    assert_eq!(tty.len(), 3, "{} lines", tty.len());
    assert_eq!(tty[0], "tty-1 | tty says hi");
    assert!(tty[1] == format!("tty-1 | {ys}"), "the 40 KB TTY line");
    assert_eq!(tty[2], "tty-1 | tty end");
    let stamped = logs(&stack, &["-t", "--no-log-prefix", "tty"]);
    let second = stamped[1].split_once(' ').map_or("", |(_, rest)| rest);
    assert!(second == ys, "the 40 KB TTY line with -t");
}

#[tokio::test]
async fn a_pipe_closed_early_ends_logs_quietly_with_0() {
    let Some(scope) = scope("logs_pipe").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  chatty:
    @
    command: [sh, -c, 'seq 1 200000; echo finished; exec sleep 600']
",
    );
    up(&stack, &format!("{}-chatty-1", stack.name), "finished").await;

    let mut child = stack
        .test(&["logs"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn muster logs");
    let stderr = drain(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut first).expect("read a line");
    drop(stdout);
    let code = wait_bounded(&mut child);
    let stderr = stderr.join().expect("stderr reader");
    assert_eq!(first, "chatty-1 | 1\n");
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    assert_eq!(stderr, "", "quiet on a closed pipe");
}

/// `muster logs -f ARGS...` in the background, its stdout lines read as
/// they come; Ctrl-C must end it with 0, quietly.
fn follow(stack: &Stack, args: &[&str]) -> Running {
    let mut all = vec!["logs", "-f"];
    all.extend_from_slice(args);
    Running::spawn(stack.test(&all).command(), Lines::Stdout)
}

#[tokio::test]
async fn follow_picks_up_a_recreated_container_and_a_scaled_up_replica() {
    let Some(scope) = scope("logs_follow").await else {
        return;
    };
    let body = |version: &str, replicas: u32| {
        format!(
            "  web:
    @
    deploy: {{replicas: {replicas}}}
    command: [sh, -c, 'echo web {version}; exec sleep 600']
  keeper:
    @
    command: [sh, -c, 'echo keeping; exec sleep 600']
"
        )
    };
    let stack = Stack::new(scope, &body("v1", 1));
    up(&stack, &format!("{}-web-1", stack.name), "web v1").await;

    let mut follow = follow(&stack, &[]);
    follow.wait_for_each(&["web-1    | web v1", "keeper-1 | keeping"]);

    // `up` recreates web-1 (its command changed) and adds web-2.
    stack.write(&body("v2", 2));
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    follow.wait_for_each(&["web-1    | web v2", "web-2    | web v2"]);
    assert!(
        follow
            .seen
            .iter()
            .any(|l| l.starts_with("web-1 exited with code")),
        "the old web-1 says it exited: {:#?}",
        follow.seen
    );
    let (seen, _) = follow.interrupt(0);
    assert_eq!(
        seen.iter().filter(|l| *l == "web-1    | web v1").count(),
        1,
        "{seen:#?}"
    );
}

#[tokio::test]
async fn a_restarted_container_goes_on_without_repeating_lines() {
    let Some(scope) = scope("logs_restart").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  ticker:
    @
    command: [sh, -c, 'echo run; exec sleep 600']
",
    );
    let name = format!("{}-ticker-1", stack.name);
    up(&stack, &name, "run").await;

    let mut follow = follow(&stack, &[]);
    follow.wait_for("ticker-1 | run");
    stack
        .engine()
        .stop_container(&name, Some(Duration::from_secs(0)))
        .await
        .expect("stop");
    stack.engine().start_container(&name).await.expect("start");
    // The second run prints `run` again: shown once more, the first run's
    // line not repeated.
    stack.logs_with(&name, "run\nrun").await;
    // Each count reads for half a second: a minute in all.
    for _ in 0..120 {
        if follow.count("ticker-1 | run") >= 2 {
            break;
        }
    }
    let (seen, _) = follow.interrupt(0);
    let runs = seen.iter().filter(|l| *l == "ticker-1 | run").count();
    assert_eq!(runs, 2, "{seen:#?}");
    let exit = seen
        .iter()
        .position(|l| l.starts_with("ticker-1 exited with code"));
    let last_run = seen.iter().rposition(|l| l == "ticker-1 | run");
    assert!(exit.is_some() && exit < last_run, "{seen:#?}");
}

#[tokio::test]
async fn follow_ends_when_every_container_stopped_for_good() {
    let Some(scope) = scope("logs_end").await else {
        return;
    };
    let stack = Stack::new(
        scope,
        "  job:
    @
    command: [sh, -c, 'echo working; sleep 2; echo finished; exit 3']
",
    );
    stack.muster(&["up", "-d", "--progress", "plain"]).success();
    let out = stack.muster(&["logs", "-f"]).success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "job-1 | working",
            "job-1 | finished",
            "job-1 exited with code 3"
        ],
        "{out:?}"
    );
}

#[test]
fn an_unknown_service_is_an_error_before_the_engine_is_asked() {
    let out = common::Test::new()
        .write("compose.yaml", "services:\n  web:\n    image: web\n")
        .args(["logs", "wbe"])
        .run();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("no such service: \"wbe\" (did you mean \"web\"?)"),
        "{out:?}"
    );
    assert_eq!(out.stdout, "");
}

/// `logs -f` is `--follow`, as in compose; `--file` still names the file
/// after the command.
#[test]
fn after_logs_dash_f_follows_and_file_is_long_only() {
    let test = common::Test::new().write("other.yaml", "services:\n  web:\n    image: web\n");
    let out = test
        .args(["logs", "--file", "other.yaml", "-f", "wbe"])
        .run();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("no such service: \"wbe\""), "{out:?}");
}
