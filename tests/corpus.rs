//! Real-world compose files (`../shared/corpus`): muster reads what people
//! really write, and gives compose-go's outcome for compose-go's own test
//! files.
//!
//! - every awesome-compose sample loads (`muster config -q` in its
//!   directory, with its own `.env`);
//! - every `compose file` row of `compose-go/INDEX.tsv` gives its status:
//!   `valid` loads, `valid (needs env)` loads with the variables its
//!   compose-go test sets, `invalid` fails with the error the INDEX quotes.
//!
//! The corpus is read-only and used in place; a missing corpus fails the
//! tests rather than skipping them.

mod common;

use std::path::{Path, PathBuf};

use common::Test;

fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.is_dir(),
        "the corpus is missing: expected it at {}",
        dir.display()
    );
    dir
}

#[test]
fn every_awesome_compose_sample_loads() {
    let root = corpus().join("awesome-compose");
    let mut samples: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("read awesome-compose")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    samples.sort();
    assert!(
        samples.len() >= 39,
        "expected 39 samples, found {}",
        samples.len()
    );
    let failures: Vec<String> = samples
        .iter()
        .filter_map(|sample| {
            let out = Test::at(sample).args(["config", "-q"]).run();
            (out.status.code() != Some(0)).then(|| format!("{}:\n{out:?}", sample.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One `compose file` row of `compose-go/INDEX.tsv`.
#[derive(Debug)]
struct Row {
    path: String,
    status: String,
    expected_error: String,
}

fn compose_go_rows() -> Vec<Row> {
    let index = corpus().join("compose-go/INDEX.tsv");
    let text = std::fs::read_to_string(&index).expect("read compose-go/INDEX.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("INDEX.tsv has no {name} column"))
    };
    let (path, kind, status, error) = (
        column("path"),
        column("kind"),
        column("status"),
        column("expected_error"),
    );
    lines
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .filter(|cells| cells.get(kind) == Some(&"compose file"))
        .map(|cells| Row {
            path: cells[path].to_owned(),
            status: cells[status].to_owned(),
            expected_error: cells.get(error).copied().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// `muster -f <file> config ...` in the file's directory.
fn load(path: &str) -> Test {
    let file = corpus().join("compose-go").join(path);
    assert!(file.is_file(), "INDEX.tsv names a missing file: {path}");
    let dir = file.parent().expect("a parent");
    let name = file.file_name().expect("a file name");
    Test::at(dir).arg("-f").arg(name)
}

/// The text the INDEX quotes for an invalid file (the first `"..."`).
fn quoted(expected_error: &str) -> Option<&str> {
    let start = expected_error.find('"')? + 1;
    let len = expected_error[start..].find('"')?;
    Some(&expected_error[start..start + len])
}

/// Files compose-go's tests load only with a setup muster cannot or should
/// not copy, each with what muster does with them alone and why.
const EXCEPTIONS: [(&str, &str); 5] = [
    // A fragment that other files extend: its services have no image, and
    // `docker compose -f base.yaml config` rejects it the same way.
    (
        "loader/testdata/extends/base.yaml",
        "service \"with-port\" has neither an image nor a build context specified",
    ),
    // Included by ../compose.yaml, whose project directory holds
    // `extra.env`; loaded alone, its env_file is relative to dir/, where
    // there is none (compose's CLI fails the same way).
    (
        "loader/testdata/include/dir/compose.yaml",
        "/loader/testdata/include/dir/extra.env cannot be read",
    ),
    // The three files below name `remote:...` paths that only compose-go's
    // test-only resource loader resolves; to muster (and to compose's CLI)
    // they are files that do not exist.
    (
        "loader/testdata/remote/nested/compose.yaml",
        "extends a file that cannot be read: ",
    ),
    (
        "loader/testdata/remote/cycle/compose.yaml",
        "extends a file that cannot be read: ",
    ),
    (
        "loader/testdata/remote/cycle/compose-cycle.yaml",
        "extends a file that cannot be read: ",
    ),
];

#[test]
fn compose_go_files_give_the_outcome_of_the_index() {
    let rows = compose_go_rows();
    assert!(
        rows.len() >= 40,
        "expected 41 compose files, found {}",
        rows.len()
    );
    let mut failures = Vec::new();
    for row in &rows {
        if EXCEPTIONS.iter().any(|(path, _)| *path == row.path) {
            continue;
        }
        let test = load(&row.path);
        let problem = match row.status.as_str() {
            "valid" => {
                let out = test.args(["config", "-q"]).run();
                (out.status.code() != Some(0)).then(|| format!("should load:\n{out:?}"))
            }
            "valid (needs env)" => {
                let out = with_env(&row.path, test).args(["config", "-q"]).run();
                (out.status.code() != Some(0)).then(|| format!("should load:\n{out:?}"))
            }
            "invalid" => {
                let expected = match quoted(&row.expected_error) {
                    Some(text) => text.to_owned(),
                    None => same_as(&rows, &row.expected_error),
                };
                let out = test.args(["config", "-q"]).run();
                (out.status.code() != Some(1) || !out.error_message().contains(&expected))
                    .then(|| format!("should fail with {expected:?}:\n{out:?}"))
            }
            other => Some(format!("unknown status {other:?} in INDEX.tsv")),
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}", row.path));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The environment compose-go's test gives a `valid (needs env)` file.
fn with_env(path: &str, test: Test) -> Test {
    match path {
        "cli/testdata/env-file/compose-with-env-files.yaml" => {
            test.args(["--env-file", ".env", "--env-file", "override.env"])
        }
        "cli/testdata/simple/compose-name.yaml" => test.env("TEST", "expected"),
        "cli/testdata/simple/compose-with-variables.yaml" => test.env("PUBLIC_PORT", "8080"),
        other => panic!("INDEX.tsv says {other} needs an environment: add it here"),
    }
}

/// The expected error of a row that says "same cycle as <file>".
fn same_as(rows: &[Row], expected_error: &str) -> String {
    let other = expected_error
        .split_whitespace()
        .find(|w| w.ends_with(".yaml"))
        .unwrap_or_else(|| panic!("no expected error in {expected_error:?}"));
    let row = rows
        .iter()
        .find(|r| r.path.ends_with(&format!("/{other}")))
        .unwrap_or_else(|| panic!("no row for {other}"));
    quoted(&row.expected_error)
        .unwrap_or_else(|| panic!("no quoted error for {other}"))
        .to_owned()
}

#[test]
fn compose_go_exceptions_fail_as_compose_does_alone() {
    for (path, expected) in EXCEPTIONS {
        let out = load(path).args(["config", "-q"]).run();
        assert_eq!(out.status.code(), Some(1), "{path}:\n{out:?}");
        let message = out.error_message();
        assert!(
            message.contains(expected),
            "{path}: expected {expected:?}\n{out:?}"
        );
        if path.contains("/remote/") {
            // The message names the file it could not read, `remote:` and all.
            assert!(message.contains("/remote:"), "{path}: {message}");
        }
    }
}

/// The project as `config --format json` prints it.
fn json(test: Test) -> serde_json::Value {
    let out = test.args(["config", "--format", "json"]).run().success();
    serde_json::from_str(&out.stdout).expect("valid JSON")
}

#[test]
fn unnormalized_directory_name_gives_a_normalized_project_name() {
    let project = json(load("cli/testdata/UNNORMALIZED PATH/compose.yaml"));
    assert_eq!(project["name"], "unnormalizedpath");
}

#[test]
fn interpolated_project_name() {
    let project = json(load("cli/testdata/simple/compose-name.yaml").env("TEST", "expected"));
    assert_eq!(project["name"], "test-expected-test");
}

#[test]
fn later_env_files_win() {
    let test = with_env(
        "cli/testdata/env-file/compose-with-env-files.yaml",
        load("cli/testdata/env-file/compose-with-env-files.yaml"),
    );
    let project = json(test);
    assert_eq!(
        project["services"]["simple"]["ports"][0]["published"],
        "9000"
    );
    // .env names the project; --env-file .env reads it too.
    assert_eq!(project["name"], "my_project_from_dot_env");
}

#[test]
fn variables_in_ports() {
    let project =
        json(load("cli/testdata/simple/compose-with-variables.yaml").env("PUBLIC_PORT", "8080"));
    assert_eq!(
        project["services"]["simple"]["ports"][0]["published"],
        "8080"
    );
}
