//! `muster test [SERVICE...] -- COMMAND...`: run a command against a fresh
//! stack, then take the stack down whatever happens.
//!
//! The stack comes up under a project name of its own (so several runs, or
//! a developer's own `muster up`, never collide), ready by `up`'s rules.
//! COMMAND runs on the host with every published port in its environment
//! (`MUSTER_DB_5432=127.0.0.1:49157`, and `MUSTER_ENDPOINTS` naming a JSON
//! file that lists them all). When it ends, or on Ctrl-C, the stack is
//! removed (`down -v`) and muster exits with COMMAND's exit code. `--keep`
//! leaves the stack up and says how to remove it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{ExitStatus, GlobalArgs, report_errors, report_failure, runtime};
use crate::harness::{Compose, HarnessError, Stack};
use crate::ui::progress::{self, FinishingReporter, ProgressMode};

/// How long COMMAND gets to exit after Ctrl-C before it is killed.
const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// The command to run once the stack is ready, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
    /// Leave the stack up afterwards (prints how to remove it)
    #[arg(long)]
    keep: bool,
    /// Give up waiting for the stack after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    wait_timeout: u64,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

/// Runs `muster test`.
pub fn run(global: &GlobalArgs, args: &TestArgs) -> ExitStatus {
    let options = match global.project_options() {
        Ok(options) => options,
        Err(errors) => return report_errors(&errors),
    };
    let reporter: Arc<dyn FinishingReporter> = Arc::from(progress::reporter(args.progress));
    let compose = Compose::from_options(options)
        .services(args.services.iter().cloned())
        .timeout(Duration::from_secs(args.wait_timeout))
        .keep(args.keep)
        .reporter(reporter.clone());
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    rt.block_on(async {
        let mut interrupts = match Interrupts::new() {
            Ok(interrupts) => interrupts,
            Err(e) => return report_failure(&e),
        };
        // Ctrl-C while the stack comes up drops `up`, whose guard takes
        // down what was started.
        let up = tokio::select! {
            up = compose.up() => up,
            () = interrupts.next() => {
                reporter.finish();
                let _ = writeln!(std::io::stderr(), "interrupted: removing the test stack");
                return ExitStatus::Interrupted;
            }
        };
        reporter.finish();
        let stack = match up {
            Ok(stack) => stack,
            Err(HarnessError::Load(errors)) => return report_errors(&errors),
            Err(e) => return report_failure(&e),
        };
        let status = run_command(&stack, &args.command, &mut interrupts).await;
        if args.keep {
            let name = stack.keep();
            let _ = writeln!(
                std::io::stderr(),
                "test stack {name} left up; remove it with `muster down -p {name} -v`"
            );
            return status;
        }
        let teardown = progress::reporter(args.progress);
        let down = stack.down_with(&*teardown).await;
        teardown.finish();
        match down {
            Ok(_) => status,
            Err(e) => {
                let failed = report_failure(&e);
                if status == ExitStatus::Success {
                    failed
                } else {
                    status
                }
            }
        }
    })
}

/// Runs COMMAND with the stack's endpoints in its environment; its exit
/// code (128 + the signal when a signal ended it, 127 when it cannot run,
/// 130 when it had to be killed after Ctrl-C).
async fn run_command(stack: &Stack, command: &[String], interrupts: &mut Interrupts) -> ExitStatus {
    let Some((program, arguments)) = command.split_first() else {
        return ExitStatus::Usage;
    };
    let endpoints = EndpointsFile::write(stack);
    let mut child = tokio::process::Command::new(program);
    child.args(arguments).envs(stack.environment());
    match &endpoints {
        Ok(file) => {
            child.env("MUSTER_ENDPOINTS", &file.0);
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "warning: cannot write the endpoints file: {e}"
            );
        }
    }
    let mut child = match child.kill_on_drop(true).spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: cannot run {program:?}: {e}");
            return ExitStatus::Code(127);
        }
    };
    let exited = tokio::select! {
        exited = child.wait() => exited,
        () = interrupts.next() => {
            // A terminal sent the interrupt to COMMAND too: give it time
            // to finish, then kill it. A second Ctrl-C kills at once.
            let _ = writeln!(
                std::io::stderr(),
                "interrupted: waiting for {program} to exit, then removing the test stack \
                 (press Ctrl-C again to kill it)"
            );
            let killed = tokio::select! {
                exited = child.wait() => exited,
                () = interrupts.next() => kill(&mut child).await,
                () = tokio::time::sleep(GRACE) => kill(&mut child).await,
            };
            return match killed {
                // It stopped by itself: its own exit code.
                Ok(status) if status.code().is_some() => exit_status(status),
                _ => ExitStatus::Interrupted,
            };
        }
    };
    match exited {
        Ok(status) => exit_status(status),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: waiting for {program:?}: {e}");
            ExitStatus::Failure
        }
    }
}

/// Ctrl-C (SIGINT), as one stream from the start, so that an interrupt
/// arriving between two waits is not lost.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            if self.signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

async fn kill(child: &mut tokio::process::Child) -> std::io::Result<std::process::ExitStatus> {
    child.kill().await?;
    child.wait().await
}

fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    if let Some(code) = status.code() {
        return match u8::try_from(code) {
            Ok(0) => ExitStatus::Success,
            Ok(code) => ExitStatus::Code(code),
            Err(_) => ExitStatus::Failure,
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ExitStatus::Code(u8::try_from(128 + signal).unwrap_or(u8::MAX));
        }
    }
    ExitStatus::Failure
}

/// The JSON file listing the endpoints; removed when dropped.
struct EndpointsFile(PathBuf);

impl EndpointsFile {
    fn write(stack: &Stack) -> std::io::Result<Self> {
        let path = crate::harness::endpoints_file(stack.project_name());
        let json =
            serde_json::to_string_pretty(&stack.endpoints_json()).map_err(std::io::Error::other)?;
        std::fs::write(&path, json + "\n")?;
        Ok(Self(path))
    }
}

impl Drop for EndpointsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
