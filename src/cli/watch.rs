//! `muster watch` (and `muster up --watch`): keep the running stack current
//! as files change, by the services' `develop.watch` rules, with their logs
//! streaming and muster's action lines between them.

use std::io::Write;
use std::sync::Arc;

use clap::Args;

use super::logs::Ended;
use super::{ExitStatus, GlobalArgs, connect, report_failure, runtime};
use crate::engine::Engine;
use crate::logs::{LogsOptions, logs};
use crate::model::LoadedProject;
use crate::orchestrator::events::{Event, Reporter, WatchEvent};
use crate::orchestrator::spec::{self, labels};
use crate::orchestrator::up::{UpOptions, up};
use crate::ui::logs::LogStyle;
use crate::ui::progress::{self, FinishingReporter, ProgressMode};
use crate::watch::{WatchOptions, watch};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only these services (default: every service with develop.watch rules)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Do not bring the stack up first: act on changes only
    #[arg(long)]
    no_up: bool,
    /// Also say how many directories are watched, and every step of a
    /// rebuild (the build's output, each container stopped and started)
    #[arg(short, long)]
    verbose: bool,
    /// Quiet period that ends a batch of changes, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 30)]
    quiet_ms: u64,
    /// How to show the progress of bringing the stack up
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

/// Action lines for the terminal. Unless `--verbose`, a rebuild or reload
/// says what it builds and why, and what came of it, not each step; a
/// failed build's error carries its step and last output.
struct Lines {
    inner: Box<dyn FinishingReporter>,
    verbose: bool,
}

impl Reporter for Lines {
    fn report(&self, event: Event) {
        if self.verbose {
            return self.inner.report(event);
        }
        match event {
            Event::Watch(WatchEvent::Watching { services, .. }) => {
                self.inner.report(Event::Note {
                    message: format!("watching {} (Ctrl-C to stop)", services.join(", ")),
                });
            }
            Event::Watch(_)
            | Event::Building { .. }
            | Event::Recreating { .. }
            | Event::Failed { .. }
            | Event::Exited { .. }
            | Event::Skipped { .. }
            | Event::Note { .. } => self.inner.report(event),
            _ => {}
        }
    }
}

/// Runs `muster watch`.
pub fn run(global: &GlobalArgs, args: &WatchArgs) -> ExitStatus {
    let (options, loaded) = match super::load_project(global) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let watch_options = WatchOptions {
        services: args.services.clone(),
        up: UpOptions {
            services: args.services.clone(),
            ..UpOptions::default()
        },
        project: options,
        quiet: std::time::Duration::from_millis(args.quiet_ms),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    rt.block_on(async {
        let engine: Arc<dyn Engine> = Arc::new(connect().await?);
        let mut started = None;
        if !args.no_up {
            let reporter: Arc<dyn FinishingReporter> = Arc::from(progress::reporter(args.progress));
            let result = tokio::select! {
                result = up(engine.clone(), &loaded, &watch_options.up, reporter.clone()) => result,
                _ = tokio::signal::ctrl_c() => {
                    reporter.finish();
                    stop_project(&*engine, &loaded.name, &[]).await;
                    return Err(ExitStatus::Interrupted);
                }
            };
            reporter.finish();
            let summary = result.map_err(|e| report_failure(&e))?;
            started = Some(summary.services.into_iter().map(|s| s.service).collect());
        }
        Ok(watch_attached(engine, loaded, watch_options, started, args.verbose).await)
    })
    .unwrap_or_else(|status| status)
}

/// Streams the logs of the project's services and watches until Ctrl-C;
/// then stops `brought_up`: the services (the named ones and their
/// dependencies) that `watch` or `up --watch` brought up, none with
/// `--no-up`.
pub(super) async fn watch_attached(
    engine: Arc<dyn Engine>,
    loaded: LoadedProject,
    options: WatchOptions,
    brought_up: Option<Vec<String>>,
    verbose: bool,
) -> ExitStatus {
    let project = loaded.name.clone();
    let reporter: Arc<dyn Reporter> = Arc::new(Lines {
        inner: progress::reporter(ProgressMode::Plain),
        verbose,
    });
    let mut logs = logs(
        engine.clone(),
        &project,
        LogsOptions {
            services: brought_up
                .clone()
                .unwrap_or_else(|| options.up.services.clone()),
            follow: true,
            ..LogsOptions::default()
        },
    );
    let mut printer = super::logs::stdout_printer(LogStyle {
        prefix: true,
        color: LogStyle::color_for_stdout(),
        ..LogStyle::default()
    });
    let watching = watch(engine.clone(), loaded, options, reporter);
    tokio::pin!(watching);
    let status = tokio::select! {
        ended = super::logs::pump(&mut logs, &mut printer, false) => {
            if matches!(ended, Ended::Interrupted) {
                ExitStatus::Interrupted
            } else {
                // Every container stopped: go on watching until Ctrl-C.
                tokio::select! {
                    result = &mut watching => result.map_or_else(|e| report_failure(&e), |()| ExitStatus::Success),
                    _ = tokio::signal::ctrl_c() => ExitStatus::Interrupted,
                }
            }
        }
        result = &mut watching => match result {
            Ok(()) => ExitStatus::Success,
            Err(e) => report_failure(&e),
        },
    };
    drop(logs);
    drop(printer);
    if let Some(services) = brought_up {
        let _ = writeln!(std::io::stderr(), "stopping the stack");
        stop_project(&*engine, &project, &services).await;
    }
    status
}

/// Stops the running containers of the project (of `services` only, when
/// not empty).
async fn stop_project(engine: &dyn Engine, project: &str, services: &[String]) {
    let containers: Vec<_> = engine
        .list_containers(&[spec::project_filter(project)])
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            services.is_empty()
                || c.label(labels::SERVICE)
                    .is_some_and(|s| services.iter().any(|x| x == s))
        })
        .collect();
    let stops = containers
        .iter()
        .map(|c| engine.stop_container(&c.id, None));
    let _ = futures_util::future::join_all(stops).await;
}
