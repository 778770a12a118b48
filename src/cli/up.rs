//! `muster up`: bring the stack to what the file says, gated on readiness.
//!
//! Detached (`-d`), it returns once every service that others wait for is
//! ready (and, with `--wait`, every service). Attached, it then streams the
//! services' output with `service-1 | ` prefixes until Ctrl-C, which stops
//! the stack gracefully; a second Ctrl-C kills it.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::logs::Ended;
use super::{ExitStatus, GlobalArgs, connect, report_failure, runtime};
use crate::build::BuildPolicy;
use crate::engine::{ContainerState, Engine};
use crate::logs::{LogsOptions, logs};
use crate::orchestrator::spec::{self, labels};
use crate::orchestrator::up::{PullPolicy, UpOptions, up};
use crate::ui::logs::LogStyle;
use crate::ui::progress::{self, ProgressMode};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)]
pub struct UpArgs {
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Run in the background: return once the stack is ready
    #[arg(short, long)]
    detach: bool,
    /// Wait until every service is ready (healthy, or running), not only
    /// those others depend on; implies --detach
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds
    #[arg(long, value_name = "SECONDS")]
    wait_timeout: Option<u64>,
    /// Recreate containers even if their configuration is unchanged
    #[arg(long, conflicts_with = "no_recreate")]
    force_recreate: bool,
    /// Never recreate existing containers
    #[arg(long)]
    no_recreate: bool,
    /// Recreate anonymous volumes instead of keeping the old containers' data
    #[arg(short = 'V', long)]
    renew_anon_volumes: bool,
    /// Do not start the services the named ones depend on
    #[arg(long)]
    no_deps: bool,
    /// Remove containers of services no longer in the file
    #[arg(long)]
    remove_orphans: bool,
    /// Create containers without starting them
    #[arg(long)]
    no_start: bool,
    /// Attached: stop every container when any one exits
    #[arg(long, conflicts_with = "detach")]
    abort_on_container_exit: bool,
    /// Attached: exit with this service's exit code (implies --abort-on-container-exit)
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    exit_code_from: Option<String>,
    /// Pull images: `missing` or `never` (there is no registry here: a
    /// missing image is an error either way)
    #[arg(long, value_enum, default_value_t = Pull::Missing)]
    pull: Pull,
    /// Build every service's image before starting (default: only those
    /// missing, or whose inputs changed since they were built)
    #[arg(long, conflicts_with = "no_build")]
    build: bool,
    /// Do not build images, even missing ones
    #[arg(long)]
    no_build: bool,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Attached: keep the services current as files change, by their
    /// develop.watch rules (as `muster watch`)
    #[arg(long, conflicts_with_all = ["detach", "wait", "no_start", "abort_on_container_exit", "exit_code_from"])]
    watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pull {
    Missing,
    Never,
}

/// Runs `muster up`.
pub fn run(global: &GlobalArgs, args: &UpArgs) -> ExitStatus {
    let (options, loaded) = match super::load_project(global) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let up_options = UpOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        renew_anon_volumes: args.renew_anon_volumes,
        no_start: args.no_start,
        remove_orphans: args.remove_orphans,
        wait: args.wait,
        wait_timeout: args.wait_timeout.map(Duration::from_secs),
        pull: match args.pull {
            Pull::Missing => PullPolicy::Missing,
            Pull::Never => PullPolicy::Never,
        },
        build_options: super::build::default_options(),
        build: if args.build {
            BuildPolicy::Always
        } else if args.no_build {
            BuildPolicy::Never
        } else {
            BuildPolicy::Auto
        },
        ..UpOptions::default()
    };
    let reporter: Arc<dyn progress::FinishingReporter> =
        Arc::from(progress::reporter(args.progress));
    let attached = !(args.detach || args.wait || args.no_start);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    rt.block_on(async {
        let engine: Arc<dyn Engine> = Arc::new(connect().await?);
        let result = tokio::select! {
            result = up(engine.clone(), &loaded, &up_options, reporter.clone()) => result,
            _ = tokio::signal::ctrl_c() => {
                reporter.finish();
                let _ = writeln!(
                    std::io::stderr(),
                    "interrupted: stopping what was started (press Ctrl-C again to kill it)"
                );
                let containers = engine
                    .list_containers(&[spec::project_filter(&loaded.name)])
                    .await
                    .unwrap_or_default();
                stop_all(&*engine, &containers, true).await;
                return Err(ExitStatus::Interrupted);
            }
        };
        reporter.finish();
        let summary = result.map_err(|e| report_failure(&e))?;
        if !attached {
            return Ok(ExitStatus::Success);
        }
        let services: Vec<String> = summary.services.iter().map(|s| s.service.clone()).collect();
        if args.watch {
            let watch_options = crate::watch::WatchOptions {
                services: args.services.clone(),
                up: up_options.clone(),
                project: options.clone(),
                quiet: crate::watch::plan::QUIET,
            };
            return Ok(super::watch::watch_attached(
                engine,
                loaded.clone(),
                watch_options,
                Some(services),
                false,
            )
            .await);
        }
        attach(engine, &loaded.name, &services, args).await
    })
    .unwrap_or_else(|status| status)
}

/// Streams the containers' output (the machinery of `muster logs -f`)
/// until Ctrl-C, until every container stopped for good, or (with
/// `--abort-on-container-exit`) until one exits; then stops the stack.
async fn attach(
    engine: Arc<dyn Engine>,
    project: &str,
    services: &[String],
    args: &UpArgs,
) -> Result<ExitStatus, ExitStatus> {
    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    let mut logs = logs(
        engine.clone(),
        project,
        LogsOptions {
            services: services.to_vec(),
            follow: true,
            ..LogsOptions::default()
        },
    );
    let mut printer = super::logs::stdout_printer(LogStyle {
        prefix: true,
        color: LogStyle::color_for_stdout(),
        ..LogStyle::default()
    });
    let ended = super::logs::pump(&mut logs, &mut printer, abort).await;
    drop(logs);
    drop(printer);
    let interrupted = matches!(ended, Ended::Interrupted);
    match &ended {
        Ended::Interrupted => {
            let _ = writeln!(
                std::io::stderr(),
                "stopping the stack (press Ctrl-C again to kill it)"
            );
        }
        Ended::Exited(source) => {
            let _ = writeln!(
                std::io::stderr(),
                "{} exited: stopping the stack",
                source.service
            );
        }
        Ended::Done | Ended::Failed => {}
    }
    let containers: Vec<_> = engine
        .list_containers(&[spec::project_filter(project)])
        .await
        .map_err(|e| report_failure(&e))?
        .into_iter()
        .filter(|c| {
            c.label(labels::SERVICE)
                .is_some_and(|s| services.iter().any(|x| x == s))
        })
        .collect();
    stop_all(&*engine, &containers, interrupted).await;
    if let Some(service) = &args.exit_code_from {
        let container = containers
            .iter()
            .find(|c| c.label(labels::SERVICE) == Some(service.as_str()));
        if let Some(c) = container
            && let Ok(details) = engine.inspect_container(&c.id).await
        {
            let code = details.status.exit_code;
            return Ok(if code == 0 {
                ExitStatus::Success
            } else {
                ExitStatus::Code(u8::try_from(code).unwrap_or(1))
            });
        }
    }
    Ok(if interrupted {
        ExitStatus::Interrupted
    } else {
        ExitStatus::Success
    })
}

/// Stops every container in parallel; a second Ctrl-C kills them instead.
async fn stop_all(
    engine: &dyn Engine,
    containers: &[crate::engine::ContainerSummary],
    watch_ctrl_c: bool,
) {
    let running: Vec<_> = containers
        .iter()
        .filter(|c| c.state == ContainerState::Running)
        .collect();
    let stops =
        futures_util::future::join_all(running.iter().map(|c| engine.stop_container(&c.id, None)));
    if watch_ctrl_c {
        tokio::select! {
            _ = stops => {}
            _ = tokio::signal::ctrl_c() => {
                let _ = writeln!(std::io::stderr(), "killing the stack");
                let kills = running.iter().map(|c| engine.kill_container(&c.id, None));
                let _ = futures_util::future::join_all(kills).await;
            }
        }
    } else {
        let _ = stops.await;
    }
}
