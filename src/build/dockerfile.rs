//! What muster needs to know of a Dockerfile before it sends it: its stages
//! (to check `target` and name the ones there are), the images it starts
//! from (to check they are present, to hash their ids, and to order builds
//! that start from another service's image), and the `ARG`s it declares.
//!
//! This is not a full Dockerfile parser: it joins continued lines, skips
//! comments, honours the `escape` directive, and reads `FROM`, `ARG` and
//! `COPY --from`. Everything else is the engine's business.

use std::collections::{BTreeMap, BTreeSet};

/// One `FROM` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The image (or earlier stage) it starts from, as written.
    pub base: String,
    /// Its name (`AS name`), lowercase, when it has one.
    pub name: Option<String>,
    /// The line the `FROM` is on (1-based).
    pub line: usize,
    /// `COPY --from=X` sources in this stage, as written.
    pub copy_from: Vec<String>,
}

/// The parts of a Dockerfile muster reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// `ARG`s before the first `FROM` (usable in `FROM` lines), with
    /// their defaults.
    pub global_args: Vec<(String, Option<String>)>,
    /// Every `ARG` name declared anywhere.
    pub declared_args: BTreeSet<String>,
}

/// Build arguments every Dockerfile accepts without declaring them.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl Dockerfile {
    /// Reads the instructions muster cares about from `text`.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut file = Self::default();
        for (line, instruction) in instructions(text) {
            let (keyword, rest) = match instruction.split_once(char::is_whitespace) {
                Some((k, r)) => (k.to_ascii_uppercase(), r.trim()),
                None => (instruction.to_ascii_uppercase(), ""),
            };
            match keyword.as_str() {
                "FROM" => {
                    let words: Vec<&str> = rest
                        .split_whitespace()
                        .filter(|w| !w.starts_with("--"))
                        .collect();
                    let base = words.first().map(|w| (*w).to_owned()).unwrap_or_default();
                    let name = match words.as_slice() {
                        [_, as_word, name, ..] if as_word.eq_ignore_ascii_case("as") => {
                            Some(name.to_ascii_lowercase())
                        }
                        _ => None,
                    };
                    file.stages.push(Stage {
                        base,
                        name,
                        line,
                        copy_from: Vec::new(),
                    });
                }
                "ARG" => {
                    for word in rest.split_whitespace() {
                        let (name, default) = match word.split_once('=') {
                            Some((n, d)) => (n, Some(unquote(d))),
                            None => (word, None),
                        };
                        file.declared_args.insert(name.to_owned());
                        if file.stages.is_empty() {
                            file.global_args.push((name.to_owned(), default));
                        }
                    }
                }
                "COPY" => {
                    let from = rest
                        .split_whitespace()
                        .take_while(|w| w.starts_with("--"))
                        .find_map(|w| w.strip_prefix("--from="));
                    if let (Some(from), Some(stage)) = (from, file.stages.last_mut()) {
                        stage.copy_from.push(from.to_owned());
                    }
                }
                _ => {}
            }
        }
        file
    }

    /// The names of the named stages, in order.
    #[must_use]
    pub fn stage_names(&self) -> Vec<&str> {
        self.stages
            .iter()
            .filter_map(|s| s.name.as_deref())
            .collect()
    }

    /// The index of the stage `target` names (stage names are
    /// case-insensitive), or `None` when there is no such stage.
    #[must_use]
    pub fn stage_index(&self, target: &str) -> Option<usize> {
        let target = target.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(target.as_str()))
    }

    /// Whether `name` is an argument the Dockerfile uses (declared, or one
    /// of the predefined proxy arguments).
    #[must_use]
    pub fn accepts_arg(&self, name: &str) -> bool {
        self.declared_args.contains(name) || PREDEFINED_ARGS.contains(&name)
    }

    /// The images (not stages) that building up to `target` (the last
    /// stage when `None`) starts from or copies from, with `$ARG`s of the
    /// `FROM` lines expanded from `args` and the global `ARG` defaults;
    /// `scratch` is not an image.
    #[must_use]
    pub fn external_images(
        &self,
        target: Option<&str>,
        args: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let last = target
            .and_then(|t| self.stage_index(t))
            .unwrap_or_else(|| self.stages.len().saturating_sub(1));
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        for (name, default) in &self.global_args {
            if let Some(value) = args.get(name).cloned().or_else(|| default.clone()) {
                vars.insert(name.clone(), value);
            }
        }
        let mut seen: Vec<String> = Vec::new();
        let mut images = Vec::new();
        for (i, stage) in self.stages.iter().enumerate().take(last + 1) {
            let mut refs = vec![expand(&stage.base, &vars)];
            refs.extend(stage.copy_from.iter().map(|c| expand(c, &vars)));
            for reference in refs {
                let lower = reference.to_ascii_lowercase();
                let is_stage =
                    seen.contains(&lower) || reference.parse::<usize>().is_ok_and(|n| n < i);
                if reference.is_empty()
                    || is_stage
                    || lower == "scratch"
                    || images.contains(&reference)
                {
                    continue;
                }
                images.push(reference);
            }
            if let Some(name) = &stage.name {
                seen.push(name.clone());
            }
        }
        images
    }

    /// `text` with `FROM name` and `COPY --from=name` pointing at `image`
    /// instead, for each `(name, image)` of `replace` that is not a stage:
    /// how `additional_contexts` naming images are given to a builder that
    /// does not know them.
    #[must_use]
    pub fn rewrite_sources(text: &str, replace: &BTreeMap<String, String>) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let mut words: Vec<String> = trimmed.split(' ').map(str::to_owned).collect();
            let keyword = words.first().map(|w| w.to_ascii_uppercase());
            let mut changed = false;
            match keyword.as_deref() {
                Some("FROM") => {
                    if let Some(word) = words
                        .iter_mut()
                        .skip(1)
                        .find(|w| !w.starts_with("--") && !w.is_empty())
                    {
                        let bare = word.trim_end();
                        if let Some(image) = replace.get(bare) {
                            let tail = &word[bare.len()..];
                            *word = format!("{image}{tail}");
                            changed = true;
                        }
                    }
                }
                Some("COPY") => {
                    for word in words.iter_mut().skip(1) {
                        if let Some(from) = word.strip_prefix("--from=") {
                            let bare = from.trim_end();
                            if let Some(image) = replace.get(bare) {
                                let tail = from[bare.len()..].to_owned();
                                *word = format!("--from={image}{tail}");
                                changed = true;
                            }
                        }
                    }
                }
                _ => {}
            }
            if changed {
                out.push_str(indent);
                out.push_str(&words.join(" "));
            } else {
                out.push_str(line);
            }
        }
        out
    }
}

/// The instructions of a Dockerfile with their first line numbers:
/// continuation lines joined, comments and blank lines left out.
fn instructions(text: &str) -> Vec<(usize, String)> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut directives = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if directives {
            if let Some(directive) = line.strip_prefix('#') {
                if let Some((key, value)) = directive.split_once('=')
                    && key.trim().eq_ignore_ascii_case("escape")
                {
                    escape = value.trim().chars().next().unwrap_or('\\');
                }
                continue;
            }
            directives = false;
        }
        if line.starts_with('#') || (line.is_empty() && current.is_none()) {
            continue;
        }
        let (body, continues) = match line.strip_suffix(escape) {
            Some(body) => (body, true),
            None => (line, false),
        };
        match &mut current {
            Some((_, text)) => {
                text.push(' ');
                text.push_str(body.trim());
            }
            None => current = Some((i + 1, body.trim().to_owned())),
        }
        if !continues && let Some(done) = current.take() {
            out.push(done);
        }
    }
    out.extend(current);
    out
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner.to_owned();
        }
    }
    v.to_owned()
}

/// `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` from `vars`
/// (unset names expand to nothing, as the builder does).
fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut inner = String::new();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                inner.push(c);
            }
            let (name, value) = if let Some((n, d)) = inner.split_once(":-") {
                (
                    n,
                    vars.get(n)
                        .filter(|v| !v.is_empty())
                        .cloned()
                        .unwrap_or_else(|| d.to_owned()),
                )
            } else if let Some((n, alt)) = inner.split_once(":+") {
                (
                    n,
                    vars.get(n)
                        .filter(|v| !v.is_empty())
                        .map(|_| alt.to_owned())
                        .unwrap_or_default(),
                )
            } else {
                (
                    inner.as_str(),
                    vars.get(inner.as_str()).cloned().unwrap_or_default(),
                )
            };
            let _ = name;
            out.push_str(&value);
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(vars.get(&name).map_or("", String::as_str));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &str = "# syntax=docker/dockerfile:1\n\
        ARG BASE=muster-test/busybox:1\n\
        FROM ${BASE} AS builder\n\
        RUN echo build \\\n    && echo more\n\
        # a comment\n\
        FROM --platform=linux/amd64 builder as Runtime\n\
        ARG VERSION\n\
        COPY --from=builder /a /b\n\
        COPY --chown=1:1 --from=tools:2 /t /t\n";

    #[test]
    fn stages_and_their_names() {
        let df = Dockerfile::parse(MULTI);
        assert_eq!(df.stage_names(), ["builder", "runtime"]);
        assert_eq!(df.stages[0].line, 3);
        assert_eq!(df.stages[1].line, 7);
        assert_eq!(df.stage_index("RUNTIME"), Some(1));
        assert_eq!(df.stage_index("dev"), None);
        assert!(df.accepts_arg("VERSION") && df.accepts_arg("BASE"));
        assert!(df.accepts_arg("HTTP_PROXY") && !df.accepts_arg("OTHER"));
    }

    #[test]
    fn external_images_expand_args_and_skip_stages() {
        let df = Dockerfile::parse(MULTI);
        let none = BTreeMap::new();
        assert_eq!(
            df.external_images(None, &none),
            ["muster-test/busybox:1", "tools:2"]
        );
        assert_eq!(
            df.external_images(Some("builder"), &none),
            ["muster-test/busybox:1"]
        );
        let args = BTreeMap::from([("BASE".to_owned(), "other:1".to_owned())]);
        assert_eq!(df.external_images(Some("builder"), &args), ["other:1"]);
        let scratch = Dockerfile::parse("FROM scratch\nCOPY x /x\n");
        assert!(scratch.external_images(None, &none).is_empty());
    }

    #[test]
    fn continuations_and_the_escape_directive() {
        let df = Dockerfile::parse("# escape=`\nFROM `\n  base:1 `\n  AS one\n");
        assert_eq!(df.stages[0].base, "base:1");
        assert_eq!(df.stage_names(), ["one"]);
    }

    #[test]
    fn expansion_forms() {
        let vars = BTreeMap::from([("A".to_owned(), "x".to_owned())]);
        assert_eq!(expand("$A-${A}-${B:-d}-${A:+y}-${B:+z}", &vars), "x-x-d-y-");
    }

    #[test]
    fn sources_are_rewritten_to_images() {
        let map = BTreeMap::from([("base".to_owned(), "proj-base".to_owned())]);
        let out = Dockerfile::rewrite_sources(
            "FROM base AS x\nCOPY --from=base /a /a\nRUN echo base\n",
            &map,
        );
        assert_eq!(
            out,
            "FROM proj-base AS x\nCOPY --from=proj-base /a /a\nRUN echo base\n"
        );
    }
}
