//! The command line itself: help, version, exit codes, and output into a
//! pipe that closes early.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::Test;

/// The subcommands `muster --help` offers: only those that work.
const COMMANDS: [&str; 9] = [
    "config", "up", "build", "down", "ps", "logs", "test", "watch", "help",
];

/// The command names listed under `Commands:` in a help text.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn help_lists_only_the_commands_that_work() {
    let out = Test::new().arg("--help").run().success();
    assert!(
        out.stdout
            .starts_with("A health-aware local development orchestrator"),
        "{out:?}"
    );
    assert_eq!(commands(&out.stdout), COMMANDS);
    for flag in [
        "--file",
        "--project-name",
        "--project-directory",
        "--env-file",
        "--profile",
    ] {
        assert!(out.stdout.contains(flag), "--help shows {flag}");
    }
}

#[test]
fn config_help_shows_its_flags() {
    let out = Test::new().args(["config", "--help"]).run().success();
    for flag in [
        "--format",
        "--quiet",
        "--services",
        "--variables",
        "--no-interpolate",
    ] {
        assert!(out.stdout.contains(flag), "config --help shows {flag}");
    }
}

#[test]
fn version_prints_the_version() {
    let out = Test::new().arg("--version").run().success();
    assert_eq!(
        out.stdout,
        format!("muster {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = Test::new().arg("-V").run().success();
    assert_eq!(
        out.stdout,
        format!("muster {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["config", "--bogus"],
        &["config", "--format", "xml"],
        &["-f"],
    ] {
        let out = Test::new()
            .write("compose.yaml", "services:\n  web:\n    image: web\n")
            .args(args)
            .run();
        assert_eq!(out.status.code(), Some(2), "muster {args:?}:\n{out:?}");
        assert_eq!(out.stdout, "", "muster {args:?}: usage goes to stderr");
        assert!(
            out.stderr.contains("Usage: muster") || out.stderr.contains("try '--help'"),
            "muster {args:?}: says how to get help\n{out:?}"
        );
    }
}

#[test]
fn invalid_project_exits_1_and_valid_exits_0() {
    let out = Test::new()
        .write("compose.yaml", "services:\n  web:\n    image: web\n")
        .args(["config", "-q"])
        .run();
    assert_eq!(out.status.code(), Some(0));
    let out = Test::new()
        .write("compose.yaml", "services:\n  web: {}\n")
        .args(["config", "-q"])
        .run();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn closed_pipe_is_not_an_error() {
    // Far more than a pipe buffer (64 KiB), so the writes hit the closed
    // pipe: `muster config | head -1`.
    let mut yaml = String::from("services:\n");
    for i in 0..3000 {
        yaml.push_str(&format!(
            "  service-{i}:\n    image: registry.example.com/team/service-{i}:1.0\n    ports: [\"{}:80\"]\n",
            10_000 + i
        ));
    }
    let test = Test::new().write("compose.yaml", yaml).arg("config");
    let mut child = test
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run muster");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).expect("read the first bytes");
    assert_eq!(&first[..6], b"name: ");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait for muster");
    assert!(
        status.success(),
        "exit {:?}, stderr:\n{stderr}",
        status.code()
    );
    assert_eq!(stderr, "", "nothing to say about a closed pipe");
}
