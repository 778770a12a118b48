//! `muster config` on valid projects: what muster understood of each file,
//! printed in the normalized long form and compared with a reviewed
//! snapshot (`tests/snapshots/config_valid__*.snap`).
//!
//! Each fixture in `tests/fixtures/valid/<case>/` shows one part of the
//! compose format; the test copies it into a temp dir (named like the case,
//! which becomes the project name) and runs the real binary there. A
//! changed snapshot means muster now reads a file differently from before:
//! review it against what compose would do before accepting it.

mod common;

use common::Test;

/// `muster config` with `args` in a copy of `tests/fixtures/valid/<case>`.
fn config(case: &str) -> Test {
    Test::fixture(&format!("valid/{case}")).arg("config")
}

/// The project's name as `config --format json` prints it.
fn project_name(test: Test) -> String {
    let out = test.args(["config", "--format", "json"]).run().success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    json["name"].as_str().expect("a name").to_owned()
}

#[test]
fn ports_short_long_ranges_and_protocols() {
    let out = config("ports").run().success();
    insta::assert_snapshot!("ports", out.snapshot());
}

#[test]
fn volumes_bind_named_tmpfs_and_read_only() {
    let out = config("volumes").run().success();
    insta::assert_snapshot!("volumes", out.snapshot());
}

#[test]
fn depends_on_list_map_conditions_and_healthcheck_forms() {
    let out = config("depends").run().success();
    insta::assert_snapshot!("depends", out.snapshot());
}

#[test]
fn services_are_listed_in_start_order() {
    let out = config("depends").arg("--services").run().success();
    // Dependencies first; `worker` depends on nothing and keeps its place.
    assert_eq!(out.stdout, "db\nmigrate\ncache\napi\nweb\nworker\n");
}

#[test]
fn named_services_come_with_their_dependencies() {
    let out = config("depends").args(["--services", "migrate"]).run();
    assert_eq!(out.success().stdout, "db\nmigrate\n");
}

#[test]
fn environment_map_list_pass_through_and_env_files() {
    let out = config("environment")
        .env("FROM_SHELL", "shell-value")
        .run()
        .success();
    insta::assert_snapshot!("environment", out.snapshot());
}

#[test]
fn anchors_aliases_merge_keys_and_extension_fields() {
    let out = config("anchors").run().success();
    insta::assert_snapshot!("anchors", out.snapshot());
}

#[test]
fn format_json_prints_the_same_project() {
    let out = config("anchors").args(["--format", "json"]).run().success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(
        json["services"]["worker"]["environment"]["LOG_LEVEL"],
        "debug"
    );
    insta::assert_snapshot!("anchors_json", out.snapshot());
}

#[test]
fn reset_and_override_tags_across_two_files() {
    let out = Test::fixture("valid/overrides")
        .args(["-f", "compose.yaml", "-f", "compose.dev.yaml", "config"])
        .run()
        .success();
    insta::assert_snapshot!("overrides", out.snapshot());
}

#[test]
fn compose_file_variable_names_the_files() {
    let out = config("overrides")
        .env("COMPOSE_FILE", "compose.yaml:compose.dev.yaml")
        .run()
        .success();
    let with_flags = Test::fixture("valid/overrides")
        .args(["-f", "compose.yaml", "-f", "compose.dev.yaml", "config"])
        .run()
        .success();
    assert_eq!(out.stdout, with_flags.stdout);
}

#[test]
fn extends_in_the_same_file_and_from_another_file() {
    let out = config("extends").run().success();
    insta::assert_snapshot!("extends", out.snapshot());
}

#[test]
fn include_keeps_its_own_directory_and_env() {
    let out = config("include").run().success();
    insta::assert_snapshot!("include", out.snapshot());
}

#[test]
fn profiles_select_services() {
    let services = |test: Test| test.arg("--services").run().success().stdout;
    assert_eq!(services(config("profiles")), "web\n", "no profile active");
    assert_eq!(
        services(config("profiles").args(["--profile", "debug"])),
        "web\ndebug\n"
    );
    assert_eq!(
        services(config("profiles").args(["--profile", "debug", "--profile", "docs"])),
        "web\ndebug\ndocs\n"
    );
    assert_eq!(
        services(config("profiles").env("COMPOSE_PROFILES", "all,debug")),
        "web\ndebug\ndocs\n",
        "COMPOSE_PROFILES is a comma-separated list"
    );
    assert_eq!(
        services(config("profiles").write(".env", "COMPOSE_PROFILES=docs\n")),
        "web\ndocs\n",
        "COMPOSE_PROFILES may come from .env"
    );
    assert_eq!(
        services(
            config("profiles")
                .env("COMPOSE_PROFILES", "docs")
                .args(["--profile", "debug"])
        ),
        "web\ndebug\n",
        "--profile replaces COMPOSE_PROFILES"
    );
    assert_eq!(
        services(config("profiles").arg("seed")),
        "web\nseed\n",
        "a service named explicitly runs without its profile, with its dependencies"
    );
}

#[test]
fn profiles_of_a_named_service() {
    let out = config("profiles").arg("seed").run().success();
    insta::assert_snapshot!("profiles_named", out.snapshot());
    let out = config("profiles").arg("--profiles").run().success();
    assert_eq!(out.stdout, "all\ndebug\ndocs\ntools\n");
}

#[test]
fn interpolation_every_form() {
    let out = config("interpolation")
        .env("SHELL_ONLY", "from-shell")
        .env("OVERRIDDEN", "from-shell")
        .run()
        .success();
    insta::assert_snapshot!("interpolation", out.snapshot());
}

#[test]
fn variables_lists_what_the_file_uses() {
    let out = config("interpolation").arg("--variables").run().success();
    insta::assert_snapshot!("interpolation_variables", out.snapshot());
}

#[test]
fn no_interpolate_prints_the_templates() {
    let out = config("interpolation")
        .arg("--no-interpolate")
        .run()
        .success();
    assert_eq!(out.stderr, "", "no warnings about unset variables");
    insta::assert_snapshot!("interpolation_no_interpolate", out.snapshot());
}

#[test]
fn octal_modes_durations_sizes_and_obsolete_version() {
    let out = config("units").run().success();
    insta::assert_snapshot!("units", out.snapshot());
}

#[test]
fn discovery_from_a_subdirectory_with_the_override_file() {
    let out = config("discovery").current_dir("src/deep").run().success();
    insta::assert_snapshot!("discovery", out.snapshot());
}

#[test]
fn env_file_flag_replaces_dotenv() {
    let out = config("env_file_flag")
        .args(["--env-file", "config/base.env"])
        .args(["--env-file", "config/staging.env"])
        .run()
        .success();
    insta::assert_snapshot!("env_file_flag", out.snapshot());
}

#[test]
fn the_shell_wins_over_env_files() {
    let out = config("env_file_flag")
        .args(["--env-file", "config/base.env", "--format", "json"])
        .env("REGION", "us")
        .run()
        .success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(json["services"]["app"]["environment"]["REGION"], "us");
}

#[test]
fn build_networks_commands_and_images() {
    let out = config("build").env("DEBUG", "1").run().success();
    insta::assert_snapshot!("build", out.snapshot());
    let out = config("build").arg("--images").run().success();
    assert_eq!(
        out.stdout, "shop/base\nbuild-api\nnginx\n",
        "built images are <project>-<service>"
    );
    let out = config("build").arg("--networks").run().success();
    assert_eq!(out.stdout, "front\nback\n");
}

#[test]
fn quiet_validates_and_prints_nothing() {
    let out = config("depends").arg("-q").run().success();
    assert_eq!(out.stdout, "");
    let out = Test::new()
        .write("compose.yaml", "services:\n  web:\n    imagee: a\n")
        .args(["config", "--quiet"])
        .run()
        .failure();
    assert!(
        out.stderr.starts_with("error: unknown key `imagee`"),
        "{out:?}"
    );
}

const ONE_SERVICE: &str = "services:\n  web:\n    image: web\n";

#[test]
fn project_name_from_the_directory_is_normalized() {
    let test = Test::named("My_Project.v2").write("compose.yaml", ONE_SERVICE);
    assert_eq!(project_name(test), "my_projectv2");
    let test = Test::named("Shop API").write("compose.yaml", ONE_SERVICE);
    assert_eq!(project_name(test), "shopapi");
}

#[test]
fn project_name_precedence() {
    let with_name = "name: from-file\nservices:\n  web:\n    image: web\n";
    let project = || Test::named("dir-name").write("compose.yaml", with_name);
    assert_eq!(
        project_name(project()),
        "from-file",
        "name: beats the directory"
    );
    assert_eq!(
        project_name(project().env("COMPOSE_PROJECT_NAME", "from-env")),
        "from-env",
        "COMPOSE_PROJECT_NAME beats name:"
    );
    assert_eq!(
        project_name(
            project()
                .env("COMPOSE_PROJECT_NAME", "from-env")
                .args(["-p", "from-flag"])
        ),
        "from-flag",
        "-p beats everything"
    );
    assert_eq!(
        project_name(project().write(".env", "COMPOSE_PROJECT_NAME=from-dotenv\n")),
        "from-dotenv",
        "COMPOSE_PROJECT_NAME may come from .env"
    );
    assert_eq!(
        project_name(
            project()
                .write(".env", "COMPOSE_PROJECT_NAME=from-dotenv\n")
                .env("COMPOSE_PROJECT_NAME", "")
        ),
        "from-file",
        "an empty COMPOSE_PROJECT_NAME in the shell hides .env's and is ignored"
    );
    let plain = Test::named("dir-name").write("compose.yaml", ONE_SERVICE);
    assert_eq!(project_name(plain), "dir-name");
    let interpolated = Test::named("dir-name")
        .write(
            "compose.yaml",
            "name: ${APP}-${STAGE:-dev}\nservices:\n  web:\n    image: web\n",
        )
        .env("APP", "shop");
    assert_eq!(
        project_name(interpolated),
        "shop-dev",
        "name: is interpolated"
    );
}

#[test]
fn project_directory_flag_moves_the_project() {
    let test = Test::named("outer")
        .write("app/compose.yaml", "services:\n  web:\n    build: .\n")
        .args(["-f", "app/compose.yaml", "--project-directory", "."])
        .args(["config", "--format", "json"]);
    let out = test.run().success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(json["name"], "outer");
    assert_eq!(json["services"]["web"]["build"]["context"], "[DIR]/outer");
}

#[test]
fn build_args_without_a_value_come_from_the_environment() {
    let out = config("build")
        .env("DEBUG", "1")
        .args(["--format", "json"])
        .run()
        .success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(json["services"]["api"]["build"]["args"]["DEBUG"], "1");
}

#[test]
fn yaml_output_quotes_strings_that_yaml_1_1_reads_as_booleans() {
    let out = config("anchors").run().success();
    assert!(out.stdout.contains("restart: 'no'\n"), "{}", out.stdout);
    let out = config("environment").run().success();
    assert!(out.stdout.contains("EXPORTED: 'yes'\n"), "{}", out.stdout);
}

#[test]
fn several_compose_files_warn_and_use_compose_yaml() {
    let out = Test::new()
        .write("compose.yaml", ONE_SERVICE)
        .write(
            "docker-compose.yml",
            "services:\n  other:\n    image: other\n",
        )
        .args(["config", "--services"])
        .run()
        .success();
    assert_eq!(out.stdout, "web\n");
    assert!(
        out.stderr
            .contains("warning: found several compose files in [DIR]/project: compose.yaml, docker-compose.yml; using compose.yaml"),
        "{out:?}"
    );
}

#[test]
fn compose_file_from_stdin() {
    let test = Test::new().args(["-f", "-", "config", "--services"]);
    let mut child = test
        .command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run muster");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(ONE_SERVICE.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for muster");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "web\n");
}
