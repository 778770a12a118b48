//! `muster build`: build the services' images, in parallel, each shared
//! build once, in build-dependency order.

use std::sync::Arc;

use clap::Args;

use super::{ExitStatus, GlobalArgs, connect, report_errors, report_failure, runtime};
use crate::build::{self, BuildOptions};
use crate::engine::Engine;
use crate::ui::progress::{self, ProgressMode};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Only these services (default: every service with a `build` section)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Build without the engine's cache
    #[arg(long)]
    no_cache: bool,
    /// A build argument, `KEY=VALUE` (or `KEY`, from the environment); repeatable
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Print nothing but errors
    #[arg(short, long)]
    quiet: bool,
    /// Also build the services the named ones depend on
    #[arg(long)]
    with_dependencies: bool,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

/// The build options of the environment: `MUSTER_BUILD_LABELS=0` builds
/// images without muster's labels (one builder step less per build; the
/// input hash is then only in muster's cache).
pub(super) fn default_options() -> BuildOptions {
    BuildOptions {
        label_images: std::env::var("MUSTER_BUILD_LABELS").map_or(true, |v| v != "0"),
        ..BuildOptions::default()
    }
}

/// Runs `muster build`.
pub fn run(global: &GlobalArgs, args: &BuildArgs) -> ExitStatus {
    if let Err(e) = build::check_build_args(&args.build_args) {
        return report_failure(&e);
    }
    let (_, loaded) = match super::load_project(global) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    // Named services are passed as named: an unknown one is an error, one
    // without a `build` section is skipped, as compose does.
    let services: Vec<String> = if args.services.is_empty() || args.with_dependencies {
        match loaded.select(&args.services) {
            Ok(selected) => selected
                .selection
                .start_order()
                .into_iter()
                .filter(|s| {
                    loaded
                        .project
                        .services
                        .get(*s)
                        .is_some_and(|svc| svc.build.is_some())
                })
                .map(str::to_owned)
                .collect(),
            Err(errors) => return report_errors(&errors),
        }
    } else {
        args.services.clone()
    };
    let build_options = BuildOptions {
        no_cache: args.no_cache,
        args: args.build_args.clone(),
        ..default_options()
    };
    let mode = if args.quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    };
    let reporter: Arc<dyn progress::FinishingReporter> = Arc::from(progress::reporter(mode));
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    rt.block_on(async {
        let engine: Arc<dyn Engine> = Arc::new(connect().await?);
        let result = tokio::select! {
            result = build::build(engine, &loaded, &services, &build_options, reporter.clone()) => result,
            _ = tokio::signal::ctrl_c() => {
                reporter.finish();
                return Err(ExitStatus::Interrupted);
            }
        };
        reporter.finish();
        let summary = result.map_err(|e| report_failure(&e))?;
        if !args.quiet {
            let built: usize = summary.built.len();
            let names: Vec<String> = summary.built.iter().flat_map(|b| b.images.clone()).collect();
            if built > 0 {
                eprintln!("built {}", names.join(", "));
            } else if summary.up_to_date.is_empty() {
                eprintln!("nothing to build: no selected service has a `build` section");
            }
        }
        Ok(ExitStatus::Success)
    })
    .unwrap_or_else(|status| status)
}
