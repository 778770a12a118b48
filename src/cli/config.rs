//! `muster config`: the resolved project, as muster will run it.
//!
//! It is the quickest way to see what muster understood of a compose file:
//! every short form in its long form, every path absolute, every variable
//! substituted, every `extends` and `include` folded in. `-q` only
//! validates; the list flags print one name per line for scripts.

use std::fmt::Write as _;

use clap::{Args, ValueEnum};

use super::{ExitStatus, GlobalArgs, print_stdout, report_errors, report_warnings};
use crate::model::{self, LoadedProject};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
    /// Only validate the configuration, print nothing
    #[arg(short, long)]
    quiet: bool,
    /// Print the service names, in start order, one per line
    #[arg(long = "services")]
    list_services: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes")]
    list_volumes: bool,
    /// Print the network names, one per line
    #[arg(long = "networks")]
    list_networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles")]
    list_profiles: bool,
    /// Print the image names, one per line
    #[arg(long = "images")]
    list_images: bool,
    /// Print the variables the files use, with their defaults
    #[arg(long)]
    variables: bool,
    /// Do not substitute variables
    #[arg(long)]
    no_interpolate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

/// Runs `muster config`.
pub fn run(global: &GlobalArgs, args: &ConfigArgs) -> ExitStatus {
    let mut options = match global.project_options() {
        Ok(options) => options,
        Err(errors) => return report_errors(&errors),
    };
    options.no_interpolate = args.no_interpolate;
    options.collect_variables = args.variables;
    if args.no_interpolate && !args.variables {
        return untyped(&options, args);
    }
    let loaded = match model::load(&options) {
        Ok(loaded) => loaded,
        Err(errors) => return report_errors(&errors),
    };
    report_warnings(&loaded.warnings);
    let selection = match loaded.select(&args.services) {
        Ok(selection) => selection,
        Err(errors) => return report_errors(&errors),
    };
    report_warnings(&selection.notes);
    report_warnings(&ignored_fields(&loaded, &selection.order));
    if args.quiet {
        std::mem::forget(loaded);
        return ExitStatus::Success;
    }
    let text = if args.variables {
        variables(&loaded, args.format)
    } else if args.list_services {
        lines(selection.order.iter().map(String::as_str))
    } else if args.list_volumes {
        lines(loaded.project.volumes.keys().map(String::as_str))
    } else if args.list_networks {
        lines(loaded.project.networks.keys().map(String::as_str))
    } else if args.list_profiles {
        let mut profiles: Vec<&str> = loaded
            .project
            .services
            .values()
            .flat_map(|s| s.profiles.iter().map(String::as_str))
            .collect();
        profiles.sort_unstable();
        profiles.dedup();
        lines(profiles.into_iter())
    } else if args.list_images {
        let images: Vec<String> = selection
            .order
            .iter()
            .filter_map(|name| {
                let service = loaded.project.services.get(name)?;
                Some(
                    service
                        .image
                        .clone()
                        .unwrap_or_else(|| format!("{}-{name}", loaded.name)),
                )
            })
            .collect();
        lines(images.iter().map(String::as_str))
    } else {
        match render(&loaded, &selection.order, args.format) {
            Ok(text) => text,
            Err(e) => {
                return report_errors(
                    &model::LoadError::new(
                        model::ErrorKind::Invalid,
                        format!("cannot render the configuration: {e}"),
                    )
                    .into(),
                );
            }
        }
    };
    let status = print_stdout(&text);
    // The process ends here: freeing a large project one node at a time
    // would only delay the exit.
    std::mem::forget(loaded);
    status
}

/// `config --no-interpolate`: the merged files as written, `${VAR}` and all.
/// Types are not applied (a port may still read `${PORT}:80`), so only the
/// tree is printed; validation needs the values.
fn untyped(options: &model::ProjectOptions, args: &ConfigArgs) -> ExitStatus {
    let project = match model::load::load_untyped(options) {
        Ok(project) => project,
        Err(errors) => return report_errors(&errors),
    };
    report_warnings(&project.warnings);
    if args.quiet {
        return ExitStatus::Success;
    }
    let mut value = serde_json::Map::new();
    value.insert("name".to_owned(), project.name.into());
    if let serde_yaml::Value::Mapping(map) = project.tree.to_value() {
        for (k, v) in map {
            if let (Some(k), Ok(v)) = (k.as_str(), serde_json::to_value(&v))
                && k != "name"
            {
                value.insert(k.to_owned(), v);
            }
        }
    }
    match encode(&value.into(), args.format) {
        Ok(text) => print_stdout(&text),
        Err(e) => report_errors(
            &model::LoadError::new(
                model::ErrorKind::Invalid,
                format!("cannot render the configuration: {e}"),
            )
            .into(),
        ),
    }
}

/// One warning per service that sets fields `up` does not apply yet: the
/// file is read whole, but nobody should be surprised that a limit or a
/// DNS setting is missing from the container.
pub(super) fn ignored_fields(loaded: &LoadedProject, services: &[String]) -> Vec<String> {
    services
        .iter()
        .filter_map(|name| {
            let service = loaded.project.services.get(name)?;
            let fields = crate::orchestrator::spec::ignored_fields(service);
            (!fields.is_empty()).then(|| {
                format!(
                    "service {name:?}: muster does not apply {} yet; the container runs without {}",
                    fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if fields.len() == 1 { "it" } else { "them" }
                )
            })
        })
        .collect()
}

fn lines<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.fold(String::new(), |mut out, item| {
        out.push_str(item);
        out.push('\n');
        out
    })
}

/// The resolved project with only the selected services, in start order.
fn render(loaded: &LoadedProject, services: &[String], format: Format) -> Result<String, String> {
    // As compose prints it: the edges compose adds itself (links,
    // `service:` namespaces, volumes_from) appear under depends_on.
    let mut project = loaded.project.clone();
    for service in project.services.values_mut() {
        service.add_implicit_depends_on();
    }
    let mut value = serde_json::to_value(&project).map_err(|e| e.to_string())?;
    if let Some(object) = value.as_object_mut() {
        object.insert("name".to_owned(), loaded.name.clone().into());
        if let Some(serde_json::Value::Object(all)) = object.remove("services") {
            let selected: serde_json::Map<String, serde_json::Value> = services
                .iter()
                .filter_map(|name| Some((name.clone(), all.get(name)?.clone())))
                .collect();
            object.insert("services".to_owned(), selected.into());
        }
        // Keep `name` first, as compose prints it.
        let mut ordered = serde_json::Map::new();
        if let Some(name) = object.remove("name") {
            ordered.insert("name".to_owned(), name);
        }
        ordered.append(object);
        value = ordered.into();
    }
    encode(&value, format)
}

fn encode(value: &serde_json::Value, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml::to_string(value)
            .map(|text| quote_yaml11_booleans(&text))
            .map_err(|e| e.to_string()),
    }
}

/// serde_yaml writes YAML 1.2, where `no` and `on` are plain strings; YAML
/// 1.1 readers (docker-compose v1, PyYAML) take them for booleans. Quote
/// them, as compose does, so `restart: "no"` stays a string for everyone.
fn quote_yaml11_booleans(text: &str) -> String {
    const WORDS: [&str; 16] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let quoted = [": ", "- "].iter().find_map(|sep| {
            let (head, word) = body.rsplit_once(sep)?;
            WORDS
                .contains(&word)
                .then(|| format!("{head}{sep}'{word}'"))
        });
        match quoted {
            Some(q) => {
                out.push_str(&q);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

fn variables(loaded: &LoadedProject, format: Format) -> String {
    if format == Format::Json {
        let map: serde_json::Map<String, serde_json::Value> = loaded
            .variables
            .iter()
            .map(|v| {
                (
                    v.name.clone(),
                    serde_json::json!({
                        "name": v.name,
                        "required": v.required,
                        "defaultValue": v.default,
                        "alternateValue": v.alternate,
                        "value": loaded.environment.get(&v.name),
                    }),
                )
            })
            .collect();
        let mut s = serde_json::to_string_pretty(&map).unwrap_or_default();
        s.push('\n');
        return s;
    }
    let rows: Vec<[String; 4]> = loaded
        .variables
        .iter()
        .map(|v| {
            [
                v.name.clone(),
                v.required.to_string(),
                v.default.clone().unwrap_or_default(),
                v.alternate.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "NAME".to_owned(),
        "REQUIRED".to_owned(),
        "DEFAULT VALUE".to_owned(),
        "ALTERNATE VALUE".to_owned(),
    ];
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}   ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
