//! `muster down`: stop and remove what `up` created.
//!
//! Everything is found by the project label, so `down` works after a failed
//! or interrupted `up`, and without the compose file when `-p` names the
//! project. Named volumes stay unless `-v`.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{ExitStatus, GlobalArgs, connect, report_errors, report_failure, runtime};
use crate::model::{self, LoadedProject};
use crate::orchestrator::down::{DownOptions, Rmi, down};
use crate::ui::progress::{self, ProgressMode};

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Only these services (default: the whole project)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Also remove named volumes declared in the file
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Also remove containers of services no longer in the file
    #[arg(long)]
    remove_orphans: bool,
    /// Seconds to wait for each container to stop before killing it
    #[arg(short = 't', long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Also remove images: `local` (built by the project) or `all`
    #[arg(long, value_enum, value_name = "TYPE")]
    rmi: Option<RmiArg>,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Remove every stack left behind by tests (`muster test`, the
    /// library's harness) whose process is gone, or that was kept
    #[arg(long, conflicts_with = "services")]
    all_test_projects: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RmiArg {
    Local,
    All,
}

/// Loads the project when its file can be read; `down` and `ps` also work
/// from `-p` alone.
pub(super) fn project(global: &GlobalArgs) -> Result<(String, Option<LoadedProject>), ExitStatus> {
    let options = global.project_options().map_err(|e| report_errors(&e))?;
    match model::load(&options) {
        Ok(loaded) => Ok((loaded.name.clone(), Some(loaded))),
        Err(_) if global.project_name.is_some() => {
            Ok((global.project_name.clone().unwrap_or_default(), None))
        }
        Err(errors) => Err(report_errors(&errors)),
    }
}

/// Runs `muster down`.
pub fn run(global: &GlobalArgs, args: &DownArgs) -> ExitStatus {
    if args.all_test_projects {
        return test_projects(args);
    }
    let (name, loaded) = match project(global) {
        Ok(found) => found,
        Err(status) => return status,
    };
    let options = DownOptions {
        services: args.services.clone(),
        remove_volumes: args.volumes,
        remove_orphans: args.remove_orphans,
        timeout: args.timeout.map(Duration::from_secs),
        rmi: args.rmi.map(|r| match r {
            RmiArg::Local => Rmi::Local,
            RmiArg::All => Rmi::All,
        }),
    };
    let reporter = progress::reporter(args.progress);
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let engine = connect().await?;
            down(&engine, &name, loaded.as_ref(), &options, &*reporter)
                .await
                .map_err(|e| report_failure(&e))
        })
    });
    reporter.finish();
    match result {
        Ok(_) => ExitStatus::Success,
        Err(status) => status,
    }
}

/// `down --all-test-projects`: removes the test stacks whose process no
/// longer runs (or cannot be told to run), and those kept on purpose; a
/// stack whose test still runs is left to it.
fn test_projects(args: &DownArgs) -> ExitStatus {
    use crate::harness::owner;
    let reporter = progress::reporter(args.progress);
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let engine = connect().await?;
            let stacks = owner::test_projects(&engine)
                .await
                .map_err(|e| report_failure(&e))?;
            let mut failed = None;
            let mut removed = 0usize;
            for stack in &stacks {
                if stack.owner_alive == Some(true) && !stack.kept {
                    reporter.report(crate::orchestrator::events::Event::Note {
                        message: format!(
                            "test stack {} is in use by process {}: left alone",
                            stack.project,
                            stack.pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
                        ),
                    });
                    continue;
                }
                match owner::remove(&engine, &stack.project, &*reporter).await {
                    Ok(()) => removed += 1,
                    Err(e) => failed = Some(report_failure(&e)),
                }
            }
            if removed == 0 && failed.is_none() {
                reporter.report(crate::orchestrator::events::Event::Note {
                    message: "no test stacks to remove".to_owned(),
                });
            }
            failed.map_or(Ok(()), Err)
        })
    });
    reporter.finish();
    match result {
        Ok(()) => ExitStatus::Success,
        Err(status) => status,
    }
}
