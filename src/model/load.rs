//! Loading a project: from options and files to a typed, validated model.
//!
//! The steps follow compose's loader so that a file means the same thing to
//! muster as to compose:
//!
//! 1. the environment: the process environment, over `.env` in the project
//!    directory (or the `--env-file` files);
//! 2. the files: `-f`, else `COMPOSE_FILE`, else discovery;
//! 3. each file: parse, collect and interpolate variables, resolve relative
//!    paths against its own directory, pull in `include`d projects, resolve
//!    `extends`;
//! 4. merge the files in order, apply `!reset`/`!override`;
//! 5. take out `x-` extensions, deserialize into [`types::Project`], with
//!    every error mapped back to the line it came from;
//! 6. name the project, fold `env_file`s into `environment`, validate.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::discover::{self, check_project_name, normalize_project_name};
use super::dotenv;
use super::error::{ErrorKind, LoadError, LoadErrors, Location};
use super::interpolate::{self, VariableRef};
use super::merge;
use super::node::{Node, NodeKind, PathSeg};
use super::paths::{self, Bases};
use super::source::{Sources, Span};
use super::types::Project;
use super::validate;

/// How to find and read a project: what compose takes from its global flags
/// and the environment.
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    /// Compose files, in order (`-f`). Empty: `COMPOSE_FILE`, else discovery.
    pub files: Vec<PathBuf>,
    /// `-p`; else `COMPOSE_PROJECT_NAME`, the file's `name:`, the directory.
    pub project_name: Option<String>,
    /// `--project-directory`; else the first file's directory.
    pub project_directory: Option<PathBuf>,
    /// `--env-file` files, in order; empty: `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; also `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The directory relative `-f` paths and discovery start from.
    pub working_dir: PathBuf,
    /// The process environment (a snapshot, so tests can set their own).
    pub environment: IndexMap<String, String>,
    /// Whether to interpolate `${VAR}` (off for `config --no-interpolate`).
    pub no_interpolate: bool,
    /// Whether to list the variables the files use (`config --variables`);
    /// off by default, as it costs a second pass over every string.
    pub collect_variables: bool,
    /// The home directory, for `~` in paths.
    pub home: Option<PathBuf>,
}

impl ProjectOptions {
    /// Options for the current directory and process environment.
    ///
    /// # Errors
    /// When the current directory cannot be read.
    pub fn from_process() -> std::io::Result<Self> {
        let environment: IndexMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home = environment.get("HOME").map(PathBuf::from);
        Ok(Self {
            working_dir: std::env::current_dir()?,
            environment,
            home,
            ..Self::default()
        })
    }

    /// Options for a project in `dir`, with no environment but `HOME`.
    #[must_use]
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            working_dir: dir.into(),
            ..Self::default()
        }
    }
}

/// A loaded project: the typed model and what was learnt on the way.
#[derive(Debug, Clone)]
pub struct LoadedProject {
    /// The project's name (normalized).
    pub name: String,
    /// The typed, normalized model: every service, active or not.
    pub project: Project,
    /// The project directory.
    pub working_dir: PathBuf,
    /// The compose files loaded, in order (absolute).
    pub config_files: Vec<PathBuf>,
    /// The variables interpolation used: process environment over `.env`.
    pub environment: IndexMap<String, String>,
    /// The active profiles.
    pub profiles: Vec<String>,
    /// Every file read, for drawing errors.
    pub sources: Sources,
    /// Warnings for the user (unset variables, fields not acted on, ...).
    pub warnings: Vec<String>,
    /// The variables the files refer to, for `config --variables`.
    pub variables: Vec<VariableRef>,
    /// The merged tree, for locating problems found later.
    pub tree: Node,
}

impl LoadedProject {
    /// The location of the value at `path` in the merged tree (the deepest
    /// part of the path that exists).
    #[must_use]
    pub fn locate(&self, path: &[PathSeg]) -> Location {
        let (node, key) = self.tree.lookup(path);
        Location::of(&self.sources, key.map_or(node.span, |k| k.span))
    }
}

/// A project's files read and merged, before types: what
/// `config --no-interpolate` prints, where typed fields may still hold
/// `${VAR}` text.
#[derive(Debug, Clone)]
pub struct UntypedProject {
    /// The project's name.
    pub name: String,
    /// The merged tree.
    pub tree: Node,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// Reads and merges a project's files without typing or validating them.
///
/// # Errors
/// Problems reading, parsing, interpolating, including or extending.
pub fn load_untyped(options: &ProjectOptions) -> Result<UntypedProject, LoadErrors> {
    let merged = merge_files(options)?;
    let declared = merged.tree.get("name").and_then(Node::as_str);
    let name = project_name(
        options,
        &merged.environment,
        declared,
        &merged.project_dir,
        &merged.tree,
        &merged.loader,
    )?;
    Ok(UntypedProject {
        name,
        warnings: merged.loader.warnings,
        tree: merged.tree,
    })
}

/// The files of a project read, interpolated and merged into one tree.
struct Merged {
    loader: Loader,
    environment: IndexMap<String, String>,
    files: Vec<PathBuf>,
    project_dir: PathBuf,
    tree: Node,
}

fn merge_files(options: &ProjectOptions) -> Result<Merged, LoadErrors> {
    let mut loader = Loader {
        sources: Sources::default(),
        warnings: Vec::new(),
        variables: Vec::new(),
        home: options.home.clone(),
        no_interpolate: options.no_interpolate,
        collect_variables: options.collect_variables,
        include_stack: Vec::new(),
    };

    // The environment first: COMPOSE_FILE and COMPOSE_PROJECT_NAME may be in
    // `.env` of the directory we start from.
    let first_dir = options
        .project_directory
        .as_ref()
        .map(|d| absolute(&options.working_dir, d))
        .or_else(|| {
            options
                .files
                .first()
                .map(|f| parent_dir(&absolute(&options.working_dir, f)))
        })
        .unwrap_or_else(|| options.working_dir.clone());
    let mut environment = loader.environment(options, &first_dir)?;

    let (files, project_dir) = resolve_files(options, &environment, &mut loader.warnings)?;
    if project_dir != first_dir && options.env_files.is_empty() {
        environment = loader.environment(options, &project_dir)?;
    }

    let mut merged: Option<Node> = None;
    for file in &files {
        let Some(node) = loader.read_compose_file(file, &project_dir, &environment, true)? else {
            continue;
        };
        merged = Some(match merged {
            None => node,
            Some(base) => merge::merge(base, node, &[]),
        });
    }
    let Some(mut tree) = merged else {
        let first = files.first().cloned().unwrap_or_default();
        return Err(LoadError::new(ErrorKind::Invalid, "empty compose file")
            .at(Location::file(&first))
            .help("add a `services:` section with at least one service")
            .into());
    };
    merge::strip_tags(&mut tree);
    remove_key(&mut tree, "version");
    remove_key(&mut tree, "include");
    Ok(Merged {
        loader,
        environment,
        files,
        project_dir,
        tree,
    })
}

/// Loads, interpolates, merges, types and validates a project.
///
/// # Errors
/// Every problem found, each with its location and a fix.
pub fn load(options: &ProjectOptions) -> Result<LoadedProject, LoadErrors> {
    let Merged {
        loader,
        environment,
        files,
        project_dir,
        mut tree,
    } = merge_files(options)?;
    let extensions = take_extensions(&mut tree, true);

    let mut project: Project = deserialize(&tree, &loader.sources)?;
    project.extensions = extensions.top;
    for (service, ext) in extensions.services {
        if let Some(s) = project.services.get_mut(&service) {
            s.extensions = ext;
        }
    }

    let name = project_name(
        options,
        &environment,
        project.name.as_deref(),
        &project_dir,
        &tree,
        &loader,
    )?;
    let profiles = active_profiles(options, &environment);

    let mut loaded = LoadedProject {
        name,
        project,
        working_dir: project_dir,
        config_files: files,
        environment,
        profiles,
        sources: loader.sources,
        warnings: loader.warnings,
        variables: loader.variables,
        tree,
    };
    validate::resolve_environment(&mut loaded)?;
    validate::validate(&mut loaded)?;
    Ok(loaded)
}

/// Deserializes the tree into `T`, mapping serde's errors to locations.
///
/// The common case (no error) takes the direct path; only on failure is
/// the tree walked again with path tracking, to name the key in the message.
fn deserialize<'de, T: serde::Deserialize<'de>>(
    tree: &'de Node,
    sources: &Sources,
) -> Result<T, LoadError> {
    let first = match super::de::from_node::<T>(tree) {
        Ok(value) => return Ok(value),
        Err(first) => first,
    };
    let path: Vec<PathSeg> = match serde_path_to_error::deserialize::<_, T>(tree) {
        Ok(_) => Vec::new(),
        Err(err) => err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(PathSeg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(PathSeg::Index(*index)),
                _ => None,
            })
            .collect(),
    };
    Err(typed_error(
        tree,
        sources,
        &path,
        &first.message,
        first.span,
    ))
}

/// Turns a serde message at `path` into an error a user can act on.
fn typed_error(
    tree: &Node,
    sources: &Sources,
    path: &[PathSeg],
    message: &str,
    span: Option<Span>,
) -> LoadError {
    let (node, key) = tree.lookup(path);
    let span = span.unwrap_or_else(|| key.map_or(node.span, |k| k.span));
    let dotted = super::node::dotted(path);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = backquoted(expected);
        let parent = dotted
            .strip_suffix(field)
            .map(|p| p.trim_end_matches('.'))
            .unwrap_or(&dotted);
        let where_ = if parent.is_empty() {
            "at the top level".to_owned()
        } else {
            format!("in {parent}")
        };
        let mut err = LoadError::new(
            ErrorKind::UnknownKey,
            format!("unknown key `{field}` {where_}"),
        )
        .at_span(sources, span);
        err = match suggest(field, &expected) {
            Some(s) => err.help(format!("did you mean `{s}`?")),
            None if field.starts_with("x_") || field.starts_with("X-") => {
                err.help("extension fields must start with `x-`")
            }
            None if !expected.is_empty() => err.help(format!(
                "the keys allowed here are: {}",
                expected.join(", ")
            )),
            None => err,
        };
        return err;
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = backquoted(expected);
        let mut err = LoadError::new(
            ErrorKind::InvalidValue,
            format!("`{dotted}`: unknown value `{value}`"),
        )
        .at_span(sources, span);
        let listed = expected
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ");
        err = match suggest(value, &expected) {
            Some(s) => err.help(format!("did you mean `{s}`? (one of {listed})")),
            None if !expected.is_empty() => err.help(format!("use one of {listed}")),
            None => err,
        };
        return err;
    }
    let message = humanize_serde(message);
    let subject = if dotted.is_empty() {
        "the file".to_owned()
    } else {
        format!("`{dotted}`")
    };
    LoadError::new(ErrorKind::InvalidValue, format!("{subject}: {message}")).at_span(sources, span)
}

fn humanize_serde(message: &str) -> String {
    // "invalid type: string \"x\", expected a map" -> "expected a mapping, found string \"x\""
    let message = match message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        Some((found, expected)) => format!("expected {expected}, found {found}"),
        None => message.to_owned(),
    };
    message
        .split(' ')
        .map(|word| match word {
            "sequence" | "sequence," => word.replace("sequence", "list"),
            "map" | "map," => word.replace("map", "mapping"),
            "struct" => String::new(),
            _ => word.to_owned(),
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// serde's backquoted list: "expected one of `a`, `b`" -> ["a", "b"].
fn backquoted(text: &str) -> Vec<&str> {
    text.split('`')
        .enumerate()
        .filter_map(|(i, s)| (i % 2 == 1).then_some(s))
        .collect()
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
#[must_use]
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // A typo is a letter or two off (`depnds_on`, `imagee`, `wbe`); names
    // that merely share a prefix (`tls_key`, `tls_cert`) are not.
    let budget = (word.chars().count() / 4).max(1);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    paths::clean(&base.join(path))
}

fn parent_dir(file: &Path) -> PathBuf {
    file.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

/// `-f -`: the compose file is read from standard input.
const STDIN: &str = "-";

fn is_stdin(file: &Path) -> bool {
    file.as_os_str() == STDIN
}

fn resolve_files(
    options: &ProjectOptions,
    environment: &IndexMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<PathBuf>, PathBuf), LoadError> {
    let given: Vec<PathBuf> = if options.files.is_empty() {
        let separator = environment
            .get("COMPOSE_PATH_SEPARATOR")
            .and_then(|s| s.chars().next())
            .unwrap_or(':');
        environment
            .get("COMPOSE_FILE")
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.split(separator)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        options.files.clone()
    };
    let files: Vec<PathBuf> = if given.is_empty() {
        let start = options.project_directory.as_ref().map_or_else(
            || options.working_dir.clone(),
            |d| absolute(&options.working_dir, d),
        );
        let found = discover::discover(&start)?;
        warnings.extend(found.warning);
        found.files
    } else {
        given
            .iter()
            .map(|f| {
                if is_stdin(f) {
                    f.clone()
                } else {
                    absolute(&options.working_dir, f)
                }
            })
            .collect()
    };
    let project_dir = options.project_directory.as_ref().map_or_else(
        || {
            if is_stdin(&files[0]) {
                options.working_dir.clone()
            } else {
                parent_dir(&files[0])
            }
        },
        |d| absolute(&options.working_dir, d),
    );
    Ok((files, project_dir))
}

fn active_profiles(
    options: &ProjectOptions,
    environment: &IndexMap<String, String>,
) -> Vec<String> {
    let mut profiles = options.profiles.clone();
    if profiles.is_empty()
        && let Some(from_env) = environment.get("COMPOSE_PROFILES")
    {
        profiles.extend(
            from_env
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    profiles
}

fn project_name(
    options: &ProjectOptions,
    environment: &IndexMap<String, String>,
    declared: Option<&str>,
    project_dir: &Path,
    tree: &Node,
    loader: &Loader,
) -> Result<String, LoadError> {
    if let Some(name) = &options.project_name {
        check_project_name(name, "-p/--project-name")?;
        return Ok(name.clone());
    }
    if let Some(name) = environment
        .get("COMPOSE_PROJECT_NAME")
        .filter(|n| !n.is_empty())
    {
        check_project_name(name, "COMPOSE_PROJECT_NAME")?;
        return Ok(name.clone());
    }
    if let Some(name) = declared.filter(|n| !n.is_empty()) {
        return check_project_name(name, "the top-level `name:`")
            .map(|()| name.to_owned())
            .map_err(|e| {
                let span = tree.get("name").map_or_else(Span::default, |n| n.span);
                e.at_span(&loader.sources, span)
            });
    }
    let dir_name = project_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let name = normalize_project_name(dir_name);
    if name.is_empty() {
        return Err(LoadError::new(
            ErrorKind::Invalid,
            format!(
                "cannot derive a project name from the directory {}",
                project_dir.display()
            ),
        )
        .help("name the project with -p, COMPOSE_PROJECT_NAME or a top-level `name:`"));
    }
    Ok(name)
}

struct Loader {
    sources: Sources,
    warnings: Vec<String>,
    variables: Vec<VariableRef>,
    home: Option<PathBuf>,
    no_interpolate: bool,
    collect_variables: bool,
    /// Files being included, outermost first, for cycle reports.
    include_stack: Vec<PathBuf>,
}

impl Loader {
    /// The interpolation environment for a project in `dir`: the process
    /// environment over the `.env` (or `--env-file`) files.
    fn environment(
        &mut self,
        options: &ProjectOptions,
        dir: &Path,
    ) -> Result<IndexMap<String, String>, LoadError> {
        let files: Vec<(PathBuf, bool)> = if options.env_files.is_empty() {
            vec![(dir.join(".env"), false)]
        } else {
            options
                .env_files
                .iter()
                .map(|f| (absolute(&options.working_dir, f), true))
                .collect()
        };
        let mut env = options.environment.clone();
        let mut from_files: IndexMap<String, String> = IndexMap::new();
        for (file, required) in files {
            let Some(values) =
                self.read_dotenv(&file, required, &options.environment, &from_files)?
            else {
                continue;
            };
            from_files.extend(values);
        }
        for (k, v) in from_files {
            env.entry(k).or_insert(v);
        }
        Ok(env)
    }

    fn read_dotenv(
        &mut self,
        file: &Path,
        required: bool,
        process: &IndexMap<String, String>,
        earlier: &IndexMap<String, String>,
    ) -> Result<Option<IndexMap<String, String>>, LoadError> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
            Err(e) => {
                return Err(LoadError::new(
                    ErrorKind::Io,
                    format!("cannot read env file {}: {e}", file.display()),
                )
                .help("check the path given with --env-file"));
            }
        };
        let lookup = |name: &str| process.get(name).or_else(|| earlier.get(name)).cloned();
        let id = self.sources.add(file, text.as_str());
        dotenv::parse(&text, &lookup).map(Some).map_err(|e| {
            let span = self.sources.line_span(id, e.line);
            LoadError::new(
                ErrorKind::Syntax,
                format!("invalid env file: {}", e.message),
            )
            .at_span(&self.sources, span)
            .help("each line should be KEY=VALUE, with quotes around values that hold spaces or #")
        })
    }

    /// Reads one compose file: parse, interpolate, resolve paths, include,
    /// extends. `base_dir` is what its relative paths are relative to.
    fn read_compose_file(
        &mut self,
        file: &Path,
        base_dir: &Path,
        environment: &IndexMap<String, String>,
        top_level: bool,
    ) -> Result<Option<Node>, LoadError> {
        let mut node = self.read_tree(file, environment, top_level)?;
        let Some(root) = node.as_mut() else {
            return Ok(None);
        };
        let home = self.home.clone();
        paths::resolve_file(
            root,
            Bases {
                dir: base_dir,
                home: home.as_deref(),
            },
        );
        self.apply_include(root, file, base_dir, environment)?;
        self.apply_extends(root, file, environment, &mut Vec::new())?;
        Ok(node)
    }

    /// Reads, parses and interpolates a file; checks it is a mapping.
    fn read_tree(
        &mut self,
        file: &Path,
        environment: &IndexMap<String, String>,
        collect_variables: bool,
    ) -> Result<Option<Node>, LoadError> {
        let text = if is_stdin(file) {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(file)
        };
        let text = text.map_err(|e| {
            LoadError::new(
                ErrorKind::Io,
                format!("cannot read compose file {}: {e}", file.display()),
            )
            .help(match e.kind() {
                std::io::ErrorKind::NotFound => "check the path given with -f or COMPOSE_FILE",
                std::io::ErrorKind::InvalidData => "save the file as UTF-8",
                _ => "check the file's permissions",
            })
        })?;
        let id = self.sources.add(file, text);
        let Some(mut node) = super::yaml::parse(&self.sources, id)? else {
            return Ok(None);
        };
        if !matches!(node.kind, NodeKind::Map(_)) {
            return Err(LoadError::new(
                ErrorKind::InvalidValue,
                format!(
                    "a compose file must be a mapping (with `services:` and more), found {}",
                    node.type_name()
                ),
            )
            .at_span(&self.sources, node.span)
            .help("start the file with `services:` and put each service under it"));
        }
        if collect_variables && self.collect_variables {
            interpolate::collect_variables(&node, &mut self.variables);
        }
        if !self.no_interpolate {
            let lookup = |name: &str| environment.get(name).cloned();
            let mut warnings = Vec::new();
            interpolate::interpolate_node(&mut node, &lookup, &self.sources, &mut warnings)?;
            for w in warnings {
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
        }
        Ok(Some(node))
    }

    /// Pulls in the projects named by a top-level `include`.
    fn apply_include(
        &mut self,
        root: &mut Node,
        file: &Path,
        base_dir: &Path,
        environment: &IndexMap<String, String>,
    ) -> Result<(), LoadError> {
        let Some(include) = root.get("include").cloned() else {
            return Ok(());
        };
        self.include_stack.push(file.to_path_buf());
        let result = self.include_all(root, &include, base_dir, environment);
        self.include_stack.pop();
        result
    }

    fn include_all(
        &mut self,
        root: &mut Node,
        include: &Node,
        base_dir: &Path,
        environment: &IndexMap<String, String>,
    ) -> Result<(), LoadError> {
        let Some(entries) = include.as_seq() else {
            return Err(self.invalid(
                include,
                "`include` must be a list of files or of {path: ...} entries",
            ));
        };
        for entry in entries {
            let spec = IncludeSpec::from_node(entry).ok_or_else(|| {
                self.invalid(
                    entry,
                    "an `include` entry must be a path, or a mapping with `path`, `project_directory` and `env_file`",
                )
            })?;
            let files: Vec<PathBuf> = spec
                .paths
                .iter()
                .map(|p| absolute(base_dir, Path::new(p)))
                .collect();
            for f in &files {
                if let Some(pos) = self.include_stack.iter().position(|s| s == f) {
                    let mut chain: Vec<String> = self.include_stack[pos..]
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    chain.push(f.display().to_string());
                    return Err(LoadError::new(
                        ErrorKind::Cycle,
                        format!("include cycle detected: {}", chain.join(" -> ")),
                    )
                    .at_span(&self.sources, entry.span)
                    .help("remove one of the includes in the chain"));
                }
                if !f.is_file() {
                    return Err(LoadError::new(
                        ErrorKind::Reference,
                        format!("included file {} does not exist", f.display()),
                    )
                    .at_span(&self.sources, entry.span)
                    .help("include paths are relative to the including file's project directory"));
                }
            }
            let dir = spec.project_directory.as_ref().map_or_else(
                || parent_dir(&files[0]),
                |d| absolute(base_dir, Path::new(d)),
            );
            let env_files: Vec<(PathBuf, bool)> = if spec.env_files.is_empty() {
                vec![(dir.join(".env"), false)]
            } else {
                spec.env_files
                    .iter()
                    .map(|f| (absolute(base_dir, Path::new(f)), true))
                    .collect()
            };
            let mut env = environment.clone();
            let mut from_files = IndexMap::new();
            for (f, required) in env_files {
                if let Some(values) = self.read_dotenv(&f, required, environment, &from_files)? {
                    from_files.extend(values);
                }
            }
            for (k, v) in from_files {
                env.entry(k).or_insert(v);
            }
            let mut sub: Option<Node> = None;
            for f in &files {
                if let Some(node) = self.read_compose_file(f, &dir, &env, false)? {
                    sub = Some(match sub {
                        None => node,
                        Some(base) => merge::merge(base, node, &[]),
                    });
                }
            }
            if let Some(mut sub) = sub {
                merge::strip_tags(&mut sub);
                self.graft(root, sub, &files[0])?;
            }
        }
        remove_key(root, "include");
        Ok(())
    }

    /// Adds an included project's resources to `root`; a resource defined
    /// in both is a conflict unless both say the same.
    fn graft(&mut self, root: &mut Node, sub: Node, from: &Path) -> Result<(), LoadError> {
        let NodeKind::Map(sections) = sub.kind else {
            return Ok(());
        };
        for (section, value) in sections {
            if !matches!(
                section.name.as_str(),
                "services" | "networks" | "volumes" | "secrets" | "configs"
            ) {
                continue;
            }
            let NodeKind::Map(items) = value.kind else {
                continue;
            };
            let span = root.span;
            let target = match root.get_mut(&section.name) {
                Some(t) => t,
                None => {
                    let entries = root.as_map_mut().expect("root is a mapping");
                    entries.push((section.clone(), Node::new(NodeKind::Map(Vec::new()), span)));
                    &mut entries.last_mut().expect("just pushed").1
                }
            };
            if target.is_null() {
                target.kind = NodeKind::Map(Vec::new());
            }
            let Some(existing) = target.as_map_mut() else {
                continue;
            };
            for (name, item) in items {
                if let Some((k, v)) = existing.iter().find(|(k, _)| k.name == name.name) {
                    if v.to_value() != item.to_value() {
                        let kind = section.name.trim_end_matches('s');
                        return Err(LoadError::new(
                            ErrorKind::Invalid,
                            format!(
                                "imported compose file {} defines conflicting {kind} {}",
                                from.display(),
                                name.name
                            ),
                        )
                        .at_span(&self.sources, k.span)
                        .related(Location::of(&self.sources, name.span), "also defined here")
                        .help(format!(
                            "rename one of the two, or remove {} from one file",
                            name.name
                        )));
                    }
                    continue;
                }
                existing.push((name, item));
            }
        }
        Ok(())
    }

    /// Resolves `extends` for every service of a file tree.
    fn apply_extends(
        &mut self,
        root: &mut Node,
        file: &Path,
        environment: &IndexMap<String, String>,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<(), LoadError> {
        let names: Vec<String> = root
            .get("services")
            .and_then(Node::as_map)
            .map(|s| {
                s.iter()
                    .filter(|(_, v)| v.get("extends").is_some())
                    .map(|(k, _)| k.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        for name in names {
            let resolved = self.resolve_extends(root, file, &name, environment, chain)?;
            if let Some(slot) = root.get_mut("services").and_then(|s| s.get_mut(&name)) {
                *slot = resolved;
            }
        }
        Ok(())
    }

    /// The service `name` of `root` with its `extends` chain merged in.
    fn resolve_extends(
        &mut self,
        root: &Node,
        file: &Path,
        name: &str,
        environment: &IndexMap<String, String>,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<Node, LoadError> {
        let services = root.get("services");
        let Some(service) = services.and_then(|s| s.get(name)) else {
            return Err(LoadError::new(
                ErrorKind::Reference,
                format!(
                    "cannot extend service {name:?}: {} has no such service",
                    file.display()
                ),
            ));
        };
        let Some(extends) = service.get("extends") else {
            return Ok(service.clone());
        };
        let (base_name, base_file) = match (&extends.kind, extends.get("service")) {
            (NodeKind::Str { value, .. }, _) => (value.clone(), None),
            (NodeKind::Map(_), Some(svc)) if svc.as_str().is_some() => (
                svc.as_str().unwrap_or_default().to_owned(),
                extends
                    .get("file")
                    .and_then(Node::as_str)
                    .map(PathBuf::from),
            ),
            _ => {
                return Err(self.invalid(
                    extends,
                    "`extends` must be a service name, or a mapping with `service` (and optionally `file`)",
                ));
            }
        };
        let here = (file.to_path_buf(), name.to_owned());
        if let Some(pos) = chain.iter().position(|c| *c == here) {
            let mut names: Vec<&str> = chain[pos..].iter().map(|(_, s)| s.as_str()).collect();
            names.push(name);
            return Err(LoadError::new(
                ErrorKind::Cycle,
                format!("Circular reference in extends: {}", names.join(" -> ")),
            )
            .at_span(&self.sources, extends.span)
            .help("a service cannot extend itself, directly or through others"));
        }
        chain.push(here);
        let result = (|| {
            let base = match &base_file {
                None => {
                    if services.and_then(|s| s.get(&base_name)).is_none() {
                        return Err(self.missing_base(extends, &base_name, file, services));
                    }
                    self.resolve_extends(root, file, &base_name, environment, chain)?
                }
                Some(other) => {
                    let other = paths::clean(other);
                    let other_root = self
                        .read_tree(&other, environment, false)
                        .map_err(|e| {
                            if e.kind == ErrorKind::Io {
                                LoadError::new(
                                    ErrorKind::Reference,
                                    format!(
                                        "service {name:?} extends a file that cannot be read: {}",
                                        other.display()
                                    ),
                                )
                                .at_span(
                                    &self.sources,
                                    extends.get("file").map_or(extends.span, |f| f.span),
                                )
                                .help("`extends.file` is relative to the file that names it")
                            } else {
                                e
                            }
                        })?
                        .unwrap_or_else(|| Node::new(NodeKind::Map(Vec::new()), extends.span));
                    let mut other_root = other_root;
                    let home = self.home.clone();
                    paths::resolve_file(
                        &mut other_root,
                        Bases {
                            dir: &parent_dir(&other),
                            home: home.as_deref(),
                        },
                    );
                    let other_services = other_root.get("services");
                    if other_services.and_then(|s| s.get(&base_name)).is_none() {
                        return Err(self.missing_base(extends, &base_name, &other, other_services));
                    }
                    self.resolve_extends(&other_root, &other, &base_name, environment, chain)?
                }
            };
            let mut this = service.clone();
            remove_key(&mut this, "extends");
            let mut merged = merge::merge(base, this, &["services", name]);
            remove_key(&mut merged, "extends");
            Ok(merged)
        })();
        chain.pop();
        result
    }

    fn missing_base(
        &self,
        extends: &Node,
        base: &str,
        file: &Path,
        services: Option<&Node>,
    ) -> LoadError {
        let names: Vec<&str> = services
            .and_then(Node::as_map)
            .map(|s| s.iter().map(|(k, _)| k.name.as_str()).collect())
            .unwrap_or_default();
        let mut err = LoadError::new(
            ErrorKind::Reference,
            format!(
                "cannot extend service {base:?}: no such service in {}",
                file.display()
            ),
        )
        .at_span(&self.sources, extends.span);
        if let Some(s) = suggest(base, &names) {
            err = err.help(format!("did you mean {s:?}?"));
        }
        err
    }

    fn invalid(&self, node: &Node, message: &str) -> LoadError {
        LoadError::new(ErrorKind::InvalidValue, message).at_span(&self.sources, node.span)
    }
}

struct IncludeSpec {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_files: Vec<String>,
}

impl IncludeSpec {
    fn from_node(node: &Node) -> Option<Self> {
        fn strings(node: &Node) -> Option<Vec<String>> {
            match &node.kind {
                NodeKind::Str { value, .. } => Some(vec![value.clone()]),
                NodeKind::Seq(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                _ => None,
            }
        }
        match &node.kind {
            NodeKind::Str { value, .. } => Some(Self {
                paths: vec![value.clone()],
                project_directory: None,
                env_files: Vec::new(),
            }),
            NodeKind::Map(_) => Some(Self {
                paths: strings(node.get("path")?)?,
                project_directory: node
                    .get("project_directory")
                    .and_then(Node::as_str)
                    .map(str::to_owned),
                env_files: node.get("env_file").map_or(Some(Vec::new()), strings)?,
            }),
            _ => None,
        }
    }
}

fn remove_key(node: &mut Node, key: &str) {
    if let Some(entries) = node.as_map_mut() {
        entries.retain(|(k, _)| k.name != key);
    }
}

/// `x-` extensions taken out of the tree.
#[derive(Default)]
struct Extensions {
    top: IndexMap<String, serde_yaml::Value>,
    services: Vec<(String, IndexMap<String, serde_yaml::Value>)>,
}

/// Keys under which a mapping's keys are the user's own (names, variables,
/// labels), so an `x-` key there is data, not an extension.
const FREE_FORM: [&str; 16] = [
    "environment",
    "labels",
    "annotations",
    "args",
    "sysctls",
    "extra_hosts",
    "driver_opts",
    "options",
    "additional_contexts",
    "services",
    "networks",
    "volumes",
    "secrets",
    "configs",
    "depends_on",
    "ulimits",
];

fn take_extensions(root: &mut Node, top: bool) -> Extensions {
    let mut out = Extensions::default();
    if top {
        out.top = take_x_keys(root);
        if let Some(services) = root.get_mut("services").and_then(Node::as_map_mut) {
            for (name, service) in services.iter_mut() {
                let ext = take_x_keys(service);
                if !ext.is_empty() {
                    out.services.push((name.name.clone(), ext));
                }
            }
        }
    }
    strip_x_keys(root, false);
    out
}

fn take_x_keys(node: &mut Node) -> IndexMap<String, serde_yaml::Value> {
    let mut out = IndexMap::new();
    if let Some(entries) = node.as_map_mut() {
        entries.retain(|(k, v)| {
            if k.name.starts_with("x-") {
                out.insert(k.name.clone(), v.to_value());
                false
            } else {
                true
            }
        });
    }
    out
}

/// Removes `x-` keys from every mapping that is an object (not free-form).
fn strip_x_keys(node: &mut Node, free_form: bool) {
    match &mut node.kind {
        NodeKind::Map(entries) => {
            if !free_form {
                entries.retain(|(k, _)| !k.name.starts_with("x-"));
            }
            for (k, v) in entries.iter_mut() {
                if free_form && !FREE_FORM.contains(&k.name.as_str()) {
                    // The values of a name-keyed map are objects again.
                    strip_x_keys(v, false);
                } else {
                    strip_x_keys(v, FREE_FORM.contains(&k.name.as_str()));
                }
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                strip_x_keys(item, false);
            }
        }
        _ => {}
    }
}
