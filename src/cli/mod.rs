//! The command line: clap types, and the glue from flags to library calls.
//!
//! Each subcommand lives in its own file and turns its flags into calls on
//! the library; nothing here decides how a stack behaves. Only subcommands
//! that work are registered, so `--help` never offers something that fails.

mod build;
mod config;
mod down;
mod logs;
mod ps;
mod test;
mod up;
mod watch;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::model::{LoadErrors, ProjectOptions};
use crate::ui::diagnostics;

/// muster: runs the compose files you already have, health-aware and fast.
#[derive(Debug, Parser)]
#[command(name = "muster", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// The project options every subcommand shares, as compose spells them.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Compose configuration files (later files override earlier ones)
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    project_name: Option<String>,
    /// Alternate working directory (default: the first file's directory)
    #[arg(long, global = true, value_name = "DIR")]
    project_directory: Option<PathBuf>,
    /// Alternate environment files (default: .env in the project directory)
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    env_files: Vec<PathBuf>,
    /// Profiles to enable
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    profiles: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse, resolve and print the project's configuration
    Config(config::ConfigArgs),
    /// Create and start the services, each once its dependencies are ready
    Up(up::UpArgs),
    /// Build the services' images
    Build(build::BuildArgs),
    /// Stop and remove the project's containers and networks
    Down(down::DownArgs),
    /// List the project's containers
    Ps(ps::PsArgs),
    /// Show the output of the project's containers
    Logs(logs::LogsArgs),
    /// Run a command against a fresh, ready stack, then remove the stack
    ///
    /// The stack gets a project name of its own (`-p` gives its prefix) and
    /// free host ports, so runs never collide. COMMAND sees `MUSTER_<SERVICE>_<PORT>=127.0.0.1:<port>`
    /// for each published port, `MUSTER_PROJECT`, and `MUSTER_ENDPOINTS`
    /// (the path of a JSON file listing them all); muster exits with its
    /// exit code.
    Test(test::TestArgs),
    /// Keep the running services current as files change (develop.watch)
    Watch(watch::WatchArgs),
}

/// How a command ended, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It did what was asked.
    Success,
    /// It failed: an invalid project, an engine error, ...
    Failure,
    /// The command line was wrong.
    Usage,
    /// Stopped by Ctrl-C (exit code 130, as shells report it).
    Interrupted,
    /// A service's own exit code (`up --exit-code-from`).
    Code(u8),
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => Self::SUCCESS,
            ExitStatus::Failure => Self::from(1),
            ExitStatus::Usage => Self::from(2),
            ExitStatus::Interrupted => Self::from(130),
            ExitStatus::Code(code) => Self::from(code),
        }
    }
}

/// Parses the command line and runs the command.
#[must_use]
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Config(args) => config::run(&cli.global, &args),
        Command::Up(args) => up::run(&cli.global, &args),
        Command::Build(args) => build::run(&cli.global, &args),
        Command::Down(args) => down::run(&cli.global, &args),
        Command::Ps(args) => ps::run(&cli.global, &args),
        Command::Logs(args) => logs::run(&cli.global, &args),
        Command::Test(args) => test::run(&cli.global, &args),
        Command::Watch(args) => watch::run(&cli.global, &args),
    };
    status.into()
}

impl GlobalArgs {
    /// The project options these flags (and the process environment) give.
    fn project_options(&self) -> Result<ProjectOptions, LoadErrors> {
        let mut options = ProjectOptions::from_process().map_err(|e| {
            LoadErrors::from(crate::model::LoadError::new(
                crate::model::ErrorKind::Io,
                format!("cannot read the current directory: {e}"),
            ))
        })?;
        options.files.clone_from(&self.files);
        options.project_name.clone_from(&self.project_name);
        options
            .project_directory
            .clone_from(&self.project_directory);
        options.env_files.clone_from(&self.env_files);
        options.profiles.clone_from(&self.profiles);
        Ok(options)
    }
}

/// The async runtime for commands that talk to the engine.
fn runtime() -> Result<tokio::runtime::Runtime, ExitStatus> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            ExitStatus::Failure
        })
}

/// Connects to the engine as the docker CLI would; prints why not.
async fn connect() -> Result<crate::engine::DockerEngine, ExitStatus> {
    crate::engine::DockerEngine::connect()
        .await
        .map_err(|e| report_failure(&e))
}

/// Prints an error (with its causes) to stderr; returns the failure status.
fn report_failure(error: &dyn std::error::Error) -> ExitStatus {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = writeln!(stderr, "  caused by: {cause}");
        source = cause.source();
    }
    ExitStatus::Failure
}

/// Prints load errors to stderr and returns the failure status.
fn report_errors(errors: &LoadErrors) -> ExitStatus {
    let mut stderr = std::io::stderr().lock();
    for error in &errors.0 {
        let _ = write!(stderr, "{}", diagnostics::render(error));
    }
    ExitStatus::Failure
}

/// Loads the project the global flags name, with the options it was
/// loaded with, and prints its warnings; on errors, prints them and gives
/// the failure status.
fn load_project(
    global: &GlobalArgs,
) -> Result<(crate::model::ProjectOptions, crate::model::LoadedProject), ExitStatus> {
    let options = global.project_options().map_err(|e| report_errors(&e))?;
    let loaded = crate::model::load(&options).map_err(|e| report_errors(&e))?;
    report_warnings(&loaded.warnings);
    Ok((options, loaded))
}

/// Prints warnings to stderr.
fn report_warnings(warnings: &[String]) {
    let mut stderr = std::io::stderr().lock();
    for warning in warnings {
        let _ = writeln!(stderr, "{}", diagnostics::warning(warning));
    }
}

/// Writes to stdout; a closed pipe (`muster config | head`) is not an error.
fn print_stdout(text: &str) -> ExitStatus {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitStatus::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: cannot write output: {e}");
            ExitStatus::Failure
        }
    }
}
