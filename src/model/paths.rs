//! Making a file's relative paths absolute, before files are merged.
//!
//! A relative path means "relative to the directory of the project" for the
//! main files, but relative to *its own* file's directory for a service
//! pulled in by `extends: {file: ...}` or a file pulled in by `include`.
//! Once trees are merged nobody can tell which file a value came from, so
//! each file's paths are resolved right after it is read, against the
//! directory that applies to it. Nothing here touches the filesystem.

use std::path::{Component, Path, PathBuf};

use super::node::{Node, NodeKind};
use super::types::is_host_path;

/// The directories a file's relative paths are resolved against.
#[derive(Debug, Clone, Copy)]
pub struct Bases<'a> {
    /// The directory relative paths start from.
    pub dir: &'a Path,
    /// The user's home directory, for `~`.
    pub home: Option<&'a Path>,
}

impl Bases<'_> {
    /// Resolves one path: `~` against home, relative against `dir`, and
    /// `.`/`..` folded lexically (as Go's `filepath.Join` does).
    #[must_use]
    pub fn resolve(&self, path: &str) -> String {
        let joined = if path == "~" {
            self.home
                .map_or_else(|| PathBuf::from(path), Path::to_path_buf)
        } else if let (Some(rest), Some(home)) = (path.strip_prefix("~/"), self.home) {
            home.join(rest)
        } else {
            self.dir.join(path)
        };
        clean(&joined).to_string_lossy().into_owned()
    }
}

/// Folds `.` and `..` components without touching the filesystem.
#[must_use]
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Whether a build context is a remote one (git or http), left as written.
#[must_use]
pub fn is_remote_context(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

/// Resolves every relative path in one file's tree.
pub fn resolve_file(root: &mut Node, bases: Bases<'_>) {
    if let Some(services) = root.get_mut("services").and_then(Node::as_map_mut) {
        for (_, service) in services.iter_mut() {
            resolve_service(service, bases);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(entries) = root.get_mut(section).and_then(Node::as_map_mut) {
            for (_, entry) in entries.iter_mut() {
                resolve_str(entry.get_mut("file"), bases);
            }
        }
    }
}

/// Resolves the relative paths of one service.
pub fn resolve_service(service: &mut Node, bases: Bases<'_>) {
    match service.get_mut("build") {
        Some(build) if build.as_str().is_some() => {
            if let Some(context) = build.as_str().filter(|c| !is_remote_context(c)) {
                let resolved = bases.resolve(context);
                set_str(build, resolved);
            }
        }
        Some(build) if build.as_map().is_some() => {
            match build.get_mut("context") {
                Some(context) => {
                    if let Some(c) = context.as_str().filter(|c| !is_remote_context(c)) {
                        let resolved = bases.resolve(c);
                        set_str(context, resolved);
                    }
                }
                None => {
                    let span = build.span;
                    if let Some(entries) = build.as_map_mut() {
                        entries.push((
                            super::node::Key {
                                name: "context".to_owned(),
                                span,
                            },
                            Node::string(bases.resolve("."), span),
                        ));
                    }
                }
            }
            if let Some(contexts) = build
                .get_mut("additional_contexts")
                .and_then(Node::as_map_mut)
            {
                for (_, value) in contexts.iter_mut() {
                    if let Some(v) = value.as_str().filter(|v| {
                        !is_remote_context(v) && !v.starts_with("service:") && !v.contains(':')
                    }) {
                        let resolved = bases.resolve(v);
                        set_str(value, resolved);
                    }
                }
            }
        }
        _ => {}
    }
    match service.get_mut("env_file") {
        Some(node) if node.as_str().is_some() => resolve_str(Some(node), bases),
        Some(Node {
            kind: NodeKind::Seq(items),
            ..
        }) => {
            for item in items {
                if item.as_str().is_some() {
                    resolve_str(Some(item), bases);
                } else {
                    resolve_str(item.get_mut("path"), bases);
                }
            }
        }
        _ => {}
    }
    if let Some(NodeKind::Seq(items)) = service.get_mut("label_file").map(|n| &mut n.kind) {
        for item in items {
            resolve_str(Some(item), bases);
        }
    } else {
        resolve_str(service.get_mut("label_file"), bases);
    }
    if let Some(NodeKind::Seq(volumes)) = service.get_mut("volumes").map(|n| &mut n.kind) {
        for volume in volumes {
            resolve_volume(volume, bases);
        }
    }
    if let Some(NodeKind::Seq(rules)) = service
        .get_mut("develop")
        .and_then(|d| d.get_mut("watch"))
        .map(|n| &mut n.kind)
    {
        for rule in rules {
            resolve_str(rule.get_mut("path"), bases);
        }
    }
    if let Some(extends) = service.get_mut("extends") {
        resolve_str(extends.get_mut("file"), bases);
    }
}

fn resolve_volume(volume: &mut Node, bases: Bases<'_>) {
    if let Some(short) = volume.as_str() {
        let mut parts = short.splitn(2, ':');
        let source = parts.next().unwrap_or_default();
        if let Some(rest) = parts.next()
            && is_host_path(source)
        {
            let resolved = format!("{}:{rest}", bases.resolve(source));
            set_str(volume, resolved);
        }
        return;
    }
    let is_bind = volume
        .get("type")
        .and_then(Node::as_str)
        .is_some_and(|t| t == "bind");
    if is_bind {
        resolve_str(volume.get_mut("source"), bases);
    }
}

fn resolve_str(node: Option<&mut Node>, bases: Bases<'_>) {
    if let Some(node) = node
        && let Some(s) = node.as_str()
    {
        let resolved = bases.resolve(s);
        set_str(node, resolved);
    }
}

fn set_str(node: &mut Node, value: String) {
    if let NodeKind::Str { value: v, .. } = &mut node.kind {
        *v = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::source::Sources;
    use crate::model::yaml;

    fn resolved(text: &str) -> serde_yaml::Value {
        let mut sources = Sources::default();
        let id = sources.add("f.yaml", text);
        let mut node = yaml::parse(&sources, id).unwrap().unwrap();
        resolve_file(
            &mut node,
            Bases {
                dir: Path::new("/proj/app"),
                home: Some(Path::new("/home/me")),
            },
        );
        node.to_value()
    }

    #[test]
    fn resolves_binds_builds_env_files_and_watch_paths() {
        let v = resolved(
            r"
services:
  web:
    build: ./web
    env_file: [.env.web, {path: ../shared.env, required: false}]
    volumes:
      - ./src:/app:ro
      - data:/data
      - ~/cache:/cache
      - /abs:/abs
      - {type: bind, source: ./long, target: /long}
      - {type: volume, source: named, target: /named}
    develop:
      watch: [{path: ./static, action: sync, target: /www}]
  api:
    build: {dockerfile: Dockerfile.dev, additional_contexts: {lib: ../lib, base: 'service:base', img: 'docker-image://x'}}
  remote:
    build: https://github.com/docker/compose.git
secrets:
  pw: {file: ./pw.txt}
",
        );
        let web = &v["services"]["web"];
        assert_eq!(web["build"], "/proj/app/web");
        assert_eq!(web["env_file"][0], "/proj/app/.env.web");
        assert_eq!(web["env_file"][1]["path"], "/proj/shared.env");
        assert_eq!(web["volumes"][0], "/proj/app/src:/app:ro");
        assert_eq!(web["volumes"][1], "data:/data");
        assert_eq!(web["volumes"][2], "/home/me/cache:/cache");
        assert_eq!(web["volumes"][3], "/abs:/abs");
        assert_eq!(web["volumes"][4]["source"], "/proj/app/long");
        assert_eq!(web["volumes"][5]["source"], "named");
        assert_eq!(web["develop"]["watch"][0]["path"], "/proj/app/static");
        let api = &v["services"]["api"]["build"];
        assert_eq!(api["context"], "/proj/app");
        assert_eq!(api["dockerfile"], "Dockerfile.dev");
        assert_eq!(api["additional_contexts"]["lib"], "/proj/lib");
        assert_eq!(api["additional_contexts"]["base"], "service:base");
        assert_eq!(api["additional_contexts"]["img"], "docker-image://x");
        assert_eq!(
            v["services"]["remote"]["build"],
            "https://github.com/docker/compose.git"
        );
        assert_eq!(v["secrets"]["pw"]["file"], "/proj/app/pw.txt");
    }

    #[test]
    fn clean_folds_dots() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
