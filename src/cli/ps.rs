//! `muster ps`: the project's containers, their state, health and ports.

use std::fmt::Write as _;
use std::time::SystemTime;

use clap::{Args, ValueEnum};

use super::{ExitStatus, GlobalArgs, connect, print_stdout, report_failure, runtime};
use crate::orchestrator::ps::{ContainerRow, PsOptions, ps};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Only these services
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Also stopped containers
    #[arg(short, long)]
    all: bool,
    /// Only container ids
    #[arg(short, long)]
    quiet: bool,
    /// Only service names
    #[arg(long)]
    services_only: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Runs `muster ps`.
pub fn run(global: &GlobalArgs, args: &PsArgs) -> ExitStatus {
    let (name, _) = match super::down::project(global) {
        Ok(found) => found,
        Err(status) => return status,
    };
    let options = PsOptions {
        all: args.all,
        services: args.services.clone(),
    };
    let rows = runtime().and_then(|rt| {
        rt.block_on(async {
            let engine = connect().await?;
            ps(&engine, &name, &options)
                .await
                .map_err(|e| report_failure(&e))
        })
    });
    let rows = match rows {
        Ok(rows) => rows,
        Err(status) => return status,
    };
    let text = if args.quiet {
        rows.iter().map(|r| format!("{}\n", r.id)).collect()
    } else if args.services_only {
        let mut services: Vec<&str> = rows.iter().map(|r| r.service.as_str()).collect();
        services.dedup();
        services.iter().map(|s| format!("{s}\n")).collect()
    } else if args.format == Format::Json {
        json(&rows)
    } else {
        table(&rows)
    };
    print_stdout(&text)
}

fn json(rows: &[ContainerRow]) -> String {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "ID": r.id,
                "Name": r.name,
                "Service": r.service,
                "Number": r.number,
                "Image": r.image,
                "State": r.state.to_string(),
                "Health": r.health.map(|h| h.to_string()).unwrap_or_default(),
                "Status": r.status,
                "ExitCode": r.exit_code,
                "Ports": r.ports_text(),
                "Created": r.created
                    .and_then(|c| c.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs()),
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&values).unwrap_or_default();
    out.push('\n');
    out
}

fn table(rows: &[ContainerRow]) -> String {
    let header = ["NAME", "SERVICE", "STATE", "HEALTH", "STATUS", "PORTS"].map(String::from);
    let body: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.service.clone(),
                r.state.to_string(),
                r.health.map(|h| h.to_string()).unwrap_or_default(),
                r.status.clone(),
                r.ports_text(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&body) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<w$}   ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
