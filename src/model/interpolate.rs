//! Variable interpolation in compose files, as the Compose Specification
//! defines it and compose-go's `template` package implements it.
//!
//! Compose files refer to the environment with `$VAR` and `${VAR}`, choose a
//! fallback with `${VAR:-default}` / `${VAR-default}`, demand a value with
//! `${VAR:?message}` / `${VAR?message}`, and substitute only when set with
//! `${VAR:+replacement}` / `${VAR+replacement}`. The operands of those forms
//! are templates themselves (`${A:-${B:-x}}`). `$$` is a literal `$`, and a
//! `$` that starts neither a name nor `${` is left as it is (`$(date)`,
//! `a $ b`, a trailing `$`).
//!
//! This module reads a template into parts once (so a malformed `${...}` is
//! an error wherever it is, even in an operand that is not used), then
//! evaluates it against a lookup. It serves three callers: the loader
//! ([`interpolate_node`] walks a file's tree), `.env` files
//! ([`super::dotenv`] expands values with [`interpolate`]), and
//! `config --variables` ([`variables`] / [`collect_variables`]).
//!
//! Differences from compose-go, on purpose: operands are evaluated only when
//! they are used (compose-go evaluates a default even when the variable is
//! set, so an unused `${X:?}` inside it fails and unset variables inside it
//! are warned about), and an operand may span several lines (compose-go's
//! regular expression stops at a line break and reports an invalid template).

use super::error::{ErrorKind, LoadError};
use super::node::{Node, NodeKind, PathSeg};
use super::source::{Sources, Span};

/// A malformed template or a `${VAR:?msg}` whose variable is missing. `offset` is the byte offset in the template.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct InterpolationError {
    /// What is wrong: `Invalid template: ...` for a malformed reference, or
    /// `required variable NAME is missing a value: message` (compose's wording).
    pub message: String,
    /// Byte offset in the template of the `$` that starts the offending reference.
    pub offset: usize,
}

/// The result of interpolating one template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interpolated {
    /// The template with every reference substituted.
    pub value: String,
    /// Variables used without default that were unset (for warnings), once
    /// each, in the order they were met.
    pub missing: Vec<String>,
}

/// A variable a template refers to, for `muster config --variables`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    /// The variable's name.
    pub name: String,
    /// The default of `${VAR:-default}` / `${VAR-default}`, as written.
    pub default: Option<String>,
    /// Whether the variable must be set (`${VAR:?msg}` / `${VAR?msg}`).
    pub required: bool,
    /// The message of `${VAR:?msg}` / `${VAR?msg}`, as written.
    pub error_message: Option<String>,
    /// The replacement of `${VAR:+replacement}` / `${VAR+replacement}`, as written.
    pub alternate: Option<String>,
}

/// Interpolates `template`, looking variables up with `lookup` (which
/// returns `None` for an unset variable and `Some("")` for a set but empty
/// one).
///
/// # Errors
/// A malformed reference (`${`, `${}`, `${VAR`, `${VAR!}`, ...), or a
/// `${VAR:?msg}` / `${VAR?msg}` whose variable is missing.
pub fn interpolate(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolationError> {
    expand(template, lookup).map_err(|f| f.into_error())
}

/// Every variable `template` refers to, once each (see [`collect_variables`]
/// for how several references to one variable combine), in the order they
/// appear, including those in defaults and other operands. A malformed
/// reference is skipped; the rest of the template is still read.
#[must_use]
pub fn variables(template: &str) -> Vec<VariableRef> {
    let mut out = Vec::new();
    if !template.contains('$') {
        return out;
    }
    if let Ok(parts) = parse(template, true) {
        refs_of(&parts, &mut out);
    }
    out
}

/// Walks a Node tree and interpolates every string VALUE (never mapping keys), in place.
///
/// On error returns a [`LoadError`] ([`ErrorKind::Interpolation`]) located at
/// the string node's span, with a message naming the variable, e.g.
/// `required variable DB_PASSWORD is missing a value: set it in .env` (for
/// `${DB_PASSWORD:?set it in .env}`), and a help line. `warnings` receives
/// one message per unset variable used without default (`the "FOO" variable
/// is not set. Defaulting to a blank string.`, compose's wording); the
/// caller deduplicates them across nodes.
///
/// # Errors
/// The first malformed template or missing required variable met.
pub fn interpolate_node(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    sources: &Sources,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let mut path = Vec::new();
    walk(node, lookup, sources, warnings, &mut path)
}

/// Collects [`VariableRef`]s from every string value in the tree (never from
/// mapping keys), once per name, in the order first met.
///
/// A variable referred to several times keeps its first reference's place
/// and values, as compose-go combines them: it is required as soon as one
/// reference requires it, and a default, replacement or error message that
/// the first reference lacks is taken from a later one.
pub fn collect_variables(node: &Node, out: &mut Vec<VariableRef>) {
    match &node.kind {
        NodeKind::Str { value, .. } if value.contains('$') => {
            for v in variables(value) {
                combine(out, v);
            }
        }
        NodeKind::Str { .. } => {}
        NodeKind::Seq(items) => {
            for item in items {
                collect_variables(item, out);
            }
        }
        NodeKind::Map(entries) => {
            for (_, value) in entries {
                collect_variables(value, out);
            }
        }
        NodeKind::Null | NodeKind::Bool(_) | NodeKind::Int(_) | NodeKind::Float(_) => {}
    }
}

/// The warning compose prints for an unset variable used without default.
#[must_use]
pub fn unset_warning(name: &str) -> String {
    format!("the \"{name}\" variable is not set. Defaulting to a blank string.")
}

// ---------------------------------------------------------------------------
// Reading templates

/// How deeply operands may nest (`${A:-${B:-${C:-...}}}`) before the
/// template is refused; keeps recursion bounded on hostile input.
const MAX_DEPTH: usize = 64;

/// The operators of `${NAME<op>operand}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `:-`: the operand when unset or empty.
    DefaultIfEmpty,
    /// `-`: the operand when unset.
    DefaultIfUnset,
    /// `:?`: an error when unset or empty.
    ErrorIfEmpty,
    /// `?`: an error when unset.
    ErrorIfUnset,
    /// `:+`: the operand when set and not empty.
    AltIfNonEmpty,
    /// `+`: the operand when set.
    AltIfSet,
}

/// A piece of a template.
#[derive(Debug)]
enum Part {
    /// Literal text (`$$` already turned into `$`).
    Text(String),
    /// A variable reference.
    Var(Var),
}

/// `$NAME`, `${NAME}` or `${NAME<op>operand}`.
#[derive(Debug)]
struct Var {
    name: String,
    /// Byte offset of the `$` in the outermost template.
    offset: usize,
    op: Option<Operand>,
}

#[derive(Debug)]
struct Operand {
    op: Op,
    /// The operand as written, for `config --variables`.
    raw: String,
    parts: Vec<Part>,
}

/// Why a template could not be interpolated.
#[derive(Debug)]
enum Failure {
    /// A malformed reference.
    Malformed {
        detail: String,
        /// The reference as written (shortened), for the message.
        snippet: String,
        offset: usize,
    },
    /// `${NAME:?reason}` / `${NAME?reason}` with NAME missing.
    Required {
        name: String,
        reason: String,
        offset: usize,
    },
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Self::Malformed {
                detail, snippet, ..
            } => format!("Invalid template: {detail} in \"{snippet}\""),
            Self::Required { name, reason, .. } => required_message(name, reason),
        }
    }

    fn into_error(self) -> InterpolationError {
        let message = self.message();
        let offset = match self {
            Self::Malformed { offset, .. } | Self::Required { offset, .. } => offset,
        };
        InterpolationError { message, offset }
    }
}

fn required_message(name: &str, reason: &str) -> String {
    if reason.is_empty() {
        format!("required variable {name} is missing a value")
    } else {
        format!("required variable {name} is missing a value: {reason}")
    }
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of the name starting at `start` (which must be a name start).
fn name_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while bytes.get(end).is_some_and(|&b| is_name_char(b)) {
        end += 1;
    }
    end
}

/// At most 40 characters of `t[start..end]`, for messages.
fn snippet(t: &str, start: usize, end: usize) -> String {
    let rest = t.get(start..end).unwrap_or("");
    let mut s: String = rest.chars().take(40).collect();
    if s.len() < rest.len() {
        s.push_str("...");
    }
    s
}

/// Reads `template` into parts. When `lenient`, a malformed `${...}` is
/// kept as literal text instead of failing (for [`variables`]).
fn parse(template: &str, lenient: bool) -> Result<Vec<Part>, Failure> {
    let reader = Reader {
        t: template,
        closes: brace_matches(template),
        lenient,
    };
    reader.parts(0, template.len(), 0)
}

/// For each `{` in `t`, the offset of the `}` that closes it (braces nest,
/// whatever surrounds them, as compose-go counts them), or `usize::MAX`.
/// Computed once so that finding where a `${...}` ends costs nothing.
fn brace_matches(t: &str) -> Vec<usize> {
    let bytes = t.as_bytes();
    let mut closes = vec![usize::MAX; bytes.len()];
    let mut open = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => open.push(i),
            b'}' => {
                if let Some(o) = open.pop() {
                    closes[o] = i;
                }
            }
            _ => {}
        }
    }
    closes
}

fn flush(text: &mut String, parts: &mut Vec<Part>) {
    if !text.is_empty() {
        parts.push(Part::Text(std::mem::take(text)));
    }
}

struct Reader<'a> {
    t: &'a str,
    closes: Vec<usize>,
    lenient: bool,
}

impl Reader<'_> {
    /// The parts of `t[from..to]`, an operand `depth` levels deep.
    fn parts(&self, from: usize, to: usize, depth: usize) -> Result<Vec<Part>, Failure> {
        let t = self.t;
        let bytes = &t.as_bytes()[..to];
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut lit_start = from;
        let mut i = from;
        while i < to {
            if bytes[i] != b'$' {
                i += 1;
                continue;
            }
            // `i` is at an ASCII `$`, so both slice ends are char boundaries.
            text.push_str(&t[lit_start..i]);
            match bytes.get(i + 1) {
                Some(b'$') => {
                    text.push('$');
                    i += 2;
                }
                Some(&b) if is_name_start(b) => {
                    let end = name_end(bytes, i + 1);
                    flush(&mut text, &mut parts);
                    parts.push(Part::Var(Var {
                        name: t[i + 1..end].to_owned(),
                        offset: i,
                        op: None,
                    }));
                    i = end;
                }
                Some(b'{') => match self.braced(i, to, depth) {
                    Ok((var, end)) => {
                        flush(&mut text, &mut parts);
                        parts.push(Part::Var(var));
                        i = end;
                    }
                    Err(_) if self.lenient => {
                        text.push('$');
                        i += 1;
                    }
                    Err(f) => return Err(f),
                },
                _ => {
                    text.push('$');
                    i += 1;
                }
            }
            lit_start = i;
        }
        text.push_str(&t[lit_start..to]);
        flush(&mut text, &mut parts);
        Ok(parts)
    }

    /// Reads the `${...}` whose `$` is at `dollar` (inside `..to`); returns
    /// it and the offset just past its closing brace.
    fn braced(&self, dollar: usize, to: usize, depth: usize) -> Result<(Var, usize), Failure> {
        let t = self.t;
        let bytes = &t.as_bytes()[..to];
        let malformed = |detail: String| Failure::Malformed {
            detail,
            snippet: snippet(t, dollar, to),
            offset: dollar,
        };
        let unterminated = || malformed("missing closing \"}\"".to_owned());
        let name_start = dollar + 2;
        match bytes.get(name_start) {
            None => return Err(unterminated()),
            Some(b'}') => return Err(malformed("empty variable name".to_owned())),
            Some(&b) if is_name_start(b) => {}
            Some(_) => {
                return Err(malformed(
                    "\"${\" must be followed by a variable name (letters, digits and \"_\", not starting with a digit)"
                        .to_owned(),
                ));
            }
        }
        let end = name_end(bytes, name_start);
        let name = t[name_start..end].to_owned();
        let unexpected = |at: usize| {
            let c = t.get(at..).and_then(|s| s.chars().next()).unwrap_or(' ');
            malformed(format!(
                "unexpected \"{c}\" after variable name {name} (expected \"}}\" or one of \":-\", \"-\", \":?\", \"?\", \":+\", \"+\")"
            ))
        };
        let (op, op_len) = match bytes.get(end) {
            None => return Err(unterminated()),
            Some(b'}') => {
                let var = Var {
                    name,
                    offset: dollar,
                    op: None,
                };
                return Ok((var, end + 1));
            }
            Some(b':') => match bytes.get(end + 1) {
                Some(b'-') => (Op::DefaultIfEmpty, 2),
                Some(b'?') => (Op::ErrorIfEmpty, 2),
                Some(b'+') => (Op::AltIfNonEmpty, 2),
                None => return Err(unterminated()),
                Some(_) => return Err(unexpected(end)),
            },
            Some(b'-') => (Op::DefaultIfUnset, 1),
            Some(b'?') => (Op::ErrorIfUnset, 1),
            Some(b'+') => (Op::AltIfSet, 1),
            Some(_) => return Err(unexpected(end)),
        };
        // The operand runs to the brace that closes this reference; braces in
        // between nest (`${A:-${B}}`, `${A:-{"json": 1}}`), as in compose-go.
        let close = self.closes.get(dollar + 1).copied().unwrap_or(usize::MAX);
        if close >= to {
            return Err(unterminated());
        }
        if depth >= MAX_DEPTH {
            return Err(malformed(format!(
                "references nested more than {MAX_DEPTH} levels deep"
            )));
        }
        let operand_start = end + op_len;
        let parts = self.parts(operand_start, close, depth + 1)?;
        let var = Var {
            name,
            offset: dollar,
            op: Some(Operand {
                op,
                raw: t[operand_start..close].to_owned(),
                parts,
            }),
        };
        Ok((var, close + 1))
    }
}

// ---------------------------------------------------------------------------
// Evaluating templates

fn expand(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, Failure> {
    if !template.contains('$') {
        return Ok(Interpolated {
            value: template.to_owned(),
            missing: Vec::new(),
        });
    }
    let parts = parse(template, false)?;
    let mut out = Interpolated::default();
    eval(&parts, lookup, &mut out)?;
    Ok(out)
}

fn eval(
    parts: &[Part],
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), Failure> {
    for part in parts {
        match part {
            Part::Text(s) => out.value.push_str(s),
            Part::Var(var) => eval_var(var, lookup, out)?,
        }
    }
    Ok(())
}

fn eval_var(
    var: &Var,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), Failure> {
    let value = lookup(&var.name);
    let Some(operand) = &var.op else {
        match value {
            Some(v) => out.value.push_str(&v),
            None => {
                if !out.missing.contains(&var.name) {
                    out.missing.push(var.name.clone());
                }
            }
        }
        return Ok(());
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    match operand.op {
        Op::DefaultIfEmpty | Op::DefaultIfUnset => {
            let use_value = if operand.op == Op::DefaultIfEmpty {
                non_empty
            } else {
                set
            };
            match value {
                Some(v) if use_value => out.value.push_str(&v),
                _ => eval(&operand.parts, lookup, out)?,
            }
        }
        Op::ErrorIfEmpty | Op::ErrorIfUnset => {
            let ok = if operand.op == Op::ErrorIfEmpty {
                non_empty
            } else {
                set
            };
            match value {
                Some(v) if ok => out.value.push_str(&v),
                _ => {
                    // The message is a template too; what it leaves unset
                    // is not worth a warning of its own.
                    let mut reason = Interpolated::default();
                    eval(&operand.parts, lookup, &mut reason)?;
                    return Err(Failure::Required {
                        name: var.name.clone(),
                        reason: reason.value,
                        offset: var.offset,
                    });
                }
            }
        }
        Op::AltIfNonEmpty | Op::AltIfSet => {
            let replace = if operand.op == Op::AltIfNonEmpty {
                non_empty
            } else {
                set
            };
            if replace {
                eval(&operand.parts, lookup, out)?;
            } else if let Some(v) = value {
                // Set but empty (for `:+`): the empty value itself.
                out.value.push_str(&v);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Listing variables

fn refs_of(parts: &[Part], out: &mut Vec<VariableRef>) {
    for part in parts {
        let Part::Var(var) = part else { continue };
        let mut r = VariableRef {
            name: var.name.clone(),
            default: None,
            required: false,
            error_message: None,
            alternate: None,
        };
        if let Some(operand) = &var.op {
            let raw = Some(operand.raw.clone());
            match operand.op {
                Op::DefaultIfEmpty | Op::DefaultIfUnset => r.default = raw,
                Op::ErrorIfEmpty | Op::ErrorIfUnset => {
                    r.required = true;
                    r.error_message = raw;
                }
                Op::AltIfNonEmpty | Op::AltIfSet => r.alternate = raw,
            }
        }
        combine(out, r);
        if let Some(operand) = &var.op {
            refs_of(&operand.parts, out);
        }
    }
}

/// Adds `r` to `out`, or merges it into the entry for the same name.
fn combine(out: &mut Vec<VariableRef>, r: VariableRef) {
    let Some(existing) = out.iter_mut().find(|e| e.name == r.name) else {
        out.push(r);
        return;
    };
    existing.required |= r.required;
    fill(&mut existing.default, r.default);
    fill(&mut existing.error_message, r.error_message);
    fill(&mut existing.alternate, r.alternate);
}

fn fill(slot: &mut Option<String>, new: Option<String>) {
    if slot.as_deref().is_none_or(str::is_empty) && new.is_some() {
        *slot = new;
    }
}

// ---------------------------------------------------------------------------
// Trees

fn walk<'a>(
    node: &'a mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    sources: &Sources,
    warnings: &mut Vec<String>,
    path: &mut Vec<PathRef<'a>>,
) -> Result<(), LoadError> {
    let span = node.span;
    match &mut node.kind {
        NodeKind::Str { value, .. } => {
            if !value.contains('$') {
                return Ok(());
            }
            match expand(value, lookup) {
                Ok(done) => {
                    *value = done.value;
                    warnings.extend(done.missing.iter().map(|name| unset_warning(name)));
                }
                Err(f) => return Err(node_error(&f, path, sources, span)),
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(PathRef::Index(i));
                let r = walk(item, lookup, sources, warnings, path);
                path.pop();
                r?;
            }
        }
        NodeKind::Map(entries) => {
            for (key, value) in entries.iter_mut() {
                path.push(PathRef::Key(&key.name));
                let r = walk(value, lookup, sources, warnings, path);
                path.pop();
                r?;
            }
        }
        NodeKind::Null | NodeKind::Bool(_) | NodeKind::Int(_) | NodeKind::Float(_) => {}
    }
    Ok(())
}

/// A step of the path to the string being interpolated, borrowed from the
/// tree so that walking it allocates nothing.
#[derive(Clone, Copy)]
enum PathRef<'a> {
    Key(&'a str),
    Index(usize),
}

/// `services.web.ports[0]`.
fn path_string(path: &[PathRef<'_>]) -> String {
    let owned: Vec<PathSeg> = path
        .iter()
        .map(|seg| match seg {
            PathRef::Key(k) => PathSeg::Key((*k).to_owned()),
            PathRef::Index(i) => PathSeg::Index(*i),
        })
        .collect();
    let s = super::node::dotted(&owned);
    if s.is_empty() {
        "the top level".to_owned()
    } else {
        s
    }
}

fn node_error(f: &Failure, path: &[PathRef<'_>], sources: &Sources, span: Span) -> LoadError {
    let at = path_string(path);
    let err = match f {
        Failure::Malformed {
            detail, snippet, ..
        } => LoadError::new(
            ErrorKind::Interpolation,
            format!("invalid interpolation format for {at}: {detail} in \"{snippet}\""),
        )
        .help(
            "write $$ for a literal $ (e.g. $$HOME); a variable is $NAME or ${NAME}, \
             optionally with :-default, -default, :?error, ?error, :+alternate or +alternate",
        ),
        Failure::Required { name, reason, .. } => {
            LoadError::new(ErrorKind::Interpolation, required_message(name, reason)).help(format!(
                "{at} requires {name}: set it in the environment or in the project's .env file"
            ))
        }
    };
    err.at_span(sources, span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("FOO", "first"),
            ("BAR", ""),
            ("PORT", "8080"),
            ("HOST", "db.local"),
            ("MSG", "set it"),
            ("UNI", "été"),
        ])
    }

    fn run(template: &str) -> Result<Interpolated, InterpolationError> {
        let env = env();
        interpolate(template, &|k| env.get(k).map(|v| (*v).to_owned()))
    }

    /// (template, expected value, expected missing)
    const OK: &[(&str, &str, &[&str])] = &[
        // no references
        ("", "", &[]),
        ("plain text", "plain text", &[]),
        ("ünïcödé ✓", "ünïcödé ✓", &[]),
        // $VAR and ${VAR}
        ("$FOO", "first", &[]),
        ("${FOO}", "first", &[]),
        ("x${FOO}y", "xfirsty", &[]),
        ("$FOO-bar", "first-bar", &[]),
        ("$FOO.bar", "first.bar", &[]),
        ("${UNI}!", "été!", &[]),
        ("é$FOO", "éfirst", &[]),
        ("${PORT}:80", "8080:80", &[]),
        ("$HOST:$PORT", "db.local:8080", &[]),
        ("$FOObar", "", &["FOObar"]),
        ("This ${missing} var", "This  var", &["missing"]),
        ("This ${BAR} var", "This  var", &[]),
        ("$A $A ${A}", "  ", &["A"]),
        ("$A$B", "", &["A", "B"]),
        // escapes and lone dollars
        ("$$", "$", &[]),
        ("$$FOO", "$FOO", &[]),
        ("$${foo}", "${foo}", &[]),
        ("$$$FOO", "$first", &[]),
        ("a $ string", "a $ string", &[]),
        ("^REGEX$", "^REGEX$", &[]),
        ("$}", "$}", &[]),
        ("$", "$", &[]),
        ("$(date)", "$(date)", &[]),
        ("$1", "$1", &[]),
        ("100$", "100$", &[]),
        ("$-x", "$-x", &[]),
        ("${FOO}}", "first}", &[]),
        // :- and -
        ("ok ${missing:-def}", "ok def", &[]),
        ("ok ${missing-def}", "ok def", &[]),
        ("ok ${BAR:-def}", "ok def", &[]),
        ("ok ${BAR-def}", "ok ", &[]),
        ("ok ${FOO:-def}", "ok first", &[]),
        ("ok ${FOO-def}", "ok first", &[]),
        ("${missing:-}", "", &[]),
        ("${missing-}", "", &[]),
        (
            "ok ${BAR:-/non:-alphanumeric}",
            "ok /non:-alphanumeric",
            &[],
        ),
        ("${UNSET-myerror?msg}", "myerror?msg", &[]),
        ("${UNSET:-a b  c}", "a b  c", &[]),
        ("${UNSET:-multi\nline}", "multi\nline", &[]),
        ("${UNSET:-{\"k\": 1}}", "{\"k\": 1}", &[]),
        ("${UNSET:-{}}", "{}", &[]),
        ("${UNSET:-$$}", "$", &[]),
        ("${UNSET:-$${x}}", "${x}", &[]),
        // operators in the surrounding text do not matter
        ("-ok ${BAR:-defaultValue}", "-ok defaultValue", &[]),
        ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok ", &[]),
        (":-ok ${UNSET-defaultValue}", ":-ok defaultValue", &[]),
        (":?ok ${BAR-defaultValue}", ":?ok ", &[]),
        ("?ok ${BAR:-defaultValue}", "?ok defaultValue", &[]),
        // nesting
        ("${A:-${B:-x}}", "x", &[]),
        ("${A:-${FOO:-x}}", "first", &[]),
        ("ok ${UNSET_VAR-$FOO}", "ok first", &[]),
        ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first", &[]),
        ("ok ${BAR:-${FOO}}", "ok first", &[]),
        ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second", &[]),
        ("${A:-${B:-${C:-${FOO}}}}-${PORT}", "first-8080", &[]),
        ("${A:-$NOPE}", "", &["NOPE"]),
        // unused operands are not evaluated
        ("${FOO:-${NOPE}}", "first", &[]),
        ("${FOO:-${NOPE:?never}}", "first", &[]),
        // :+ and +
        ("ok ${UNSET_VAR:+presence_value}", "ok ", &[]),
        ("ok ${UNSET_VAR+presence_value}", "ok ", &[]),
        ("ok ${FOO:+presence_value}", "ok presence_value", &[]),
        ("ok ${FOO+presence_value}", "ok presence_value", &[]),
        ("ok ${BAR+presence_value}", "ok presence_value", &[]),
        ("ok ${BAR:+presence_value}", "ok ", &[]),
        // :? and ? when satisfied
        ("ok ${FOO:?err}", "ok first", &[]),
        ("ok ${FOO?err}", "ok first", &[]),
        ("ok ${BAR?err}", "ok ", &[]),
        ("${FOO?bar-baz}", "first", &[]),
        // case and digits in names
        ("${foo_Bar9}", "", &["foo_Bar9"]),
        ("${_x}", "", &["_x"]),
    ];

    #[test]
    fn table() {
        assert!(OK.len() >= 40);
        for (template, value, missing) in OK {
            let got = run(template).unwrap_or_else(|e| panic!("{template:?}: {e}"));
            assert_eq!(got.value, *value, "value of {template:?}");
            assert_eq!(got.missing, *missing, "missing of {template:?}");
        }
    }

    /// (template, message, offset)
    const ERR: &[(&str, &str, usize)] = &[
        (
            "not ok ${UNSET_VAR:?Mandatory Variable Unset}",
            "required variable UNSET_VAR is missing a value: Mandatory Variable Unset",
            7,
        ),
        (
            "not ok ${BAR:?Mandatory Variable Empty}",
            "required variable BAR is missing a value: Mandatory Variable Empty",
            7,
        ),
        (
            "not ok ${UNSET_VAR:?}",
            "required variable UNSET_VAR is missing a value",
            7,
        ),
        (
            "not ok ${UNSET_VAR?Mandatory Variable Unset}",
            "required variable UNSET_VAR is missing a value: Mandatory Variable Unset",
            7,
        ),
        (
            "not ok ${UNSET_VAR?}",
            "required variable UNSET_VAR is missing a value",
            7,
        ),
        (
            "${UNSET_VAR?bar-baz}",
            "required variable UNSET_VAR is missing a value: bar-baz",
            0,
        ),
        (
            "${X:?Mandatory Variable ${FOO}}",
            "required variable X is missing a value: Mandatory Variable first",
            0,
        ),
        (
            "${X?$MSG in .env}",
            "required variable X is missing a value: set it in .env",
            0,
        ),
        (
            "${A:-${B:?inner}}",
            "required variable B is missing a value: inner",
            5,
        ),
        ("é${DB:?x}", "required variable DB is missing a value: x", 2),
        ("${", "Invalid template: missing closing \"}\" in \"${\"", 0),
        (
            "a ${VAR",
            "Invalid template: missing closing \"}\" in \"${VAR\"",
            2,
        ),
        (
            "${VAR:",
            "Invalid template: missing closing \"}\" in \"${VAR:\"",
            0,
        ),
        (
            "${VAR:-x",
            "Invalid template: missing closing \"}\" in \"${VAR:-x\"",
            0,
        ),
        (
            "${A:-${B}",
            "Invalid template: missing closing \"}\" in \"${A:-${B}\"",
            0,
        ),
        ("${}", "Invalid template: empty variable name in \"${}\"", 0),
        (
            "${ }",
            "Invalid template: \"${\" must be followed by a variable name",
            0,
        ),
        (
            "${ foo}",
            "Invalid template: \"${\" must be followed by a variable name",
            0,
        ),
        (
            "${1x}",
            "Invalid template: \"${\" must be followed by a variable name",
            0,
        ),
        (
            "${foo }",
            "Invalid template: unexpected \" \" after variable name foo",
            0,
        ),
        (
            "${foo!}",
            "Invalid template: unexpected \"!\" after variable name foo",
            0,
        ),
        (
            "${foo:x}",
            "Invalid template: unexpected \":\" after variable name foo",
            0,
        ),
        (
            "${foo.bar}",
            "Invalid template: unexpected \".\" after variable name foo",
            0,
        ),
        (
            "x${foo:-${}}",
            "Invalid template: empty variable name in \"${}\"",
            8,
        ),
        // a malformed operand is an error even when it is not used
        ("${FOO:-${}}", "Invalid template: empty variable name", 7),
    ];

    #[test]
    fn errors() {
        for (template, message, offset) in ERR {
            let err = run(template).expect_err(template);
            assert!(
                err.message.starts_with(message),
                "{template:?}: got {:?}, want {message:?}",
                err.message
            );
            assert_eq!(err.offset, *offset, "offset for {template:?}");
        }
    }

    #[test]
    fn long_templates_are_shortened_in_messages() {
        let template = format!("${{VAR:-{}", "x".repeat(100));
        let err = run(&template).expect_err("unterminated");
        assert!(err.message.ends_with("...\""), "{}", err.message);
        assert!(err.message.len() < 120);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let template = "${A:-".repeat(10_000) + &"}".repeat(10_000);
        let err = run(&template).expect_err("too deep");
        assert!(err.message.contains("nested"), "{}", err.message);
        assert!(variables(&template).iter().any(|v| v.name == "A"));
        // unterminated references, read leniently, stay linear
        let template = "${A:-".repeat(20_000);
        assert!(run(&template).is_err());
        assert_eq!(variables(&template), vec![]);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for t in [
            "$", "$$$", "${", "${{", "${}}", "${:-}", "${A:", "${A:-", "${A-{", "${A-}}}", "$é",
            "${é}", "${A:-é", "$\u{0}", "${A?é}", "}}}{{{$",
        ] {
            let _ = run(t);
            let _ = variables(t);
        }
    }

    fn var(name: &str) -> VariableRef {
        VariableRef {
            name: name.to_owned(),
            default: None,
            required: false,
            error_message: None,
            alternate: None,
        }
    }

    #[test]
    fn variables_of_each_form() {
        assert_eq!(variables("no refs $$HOME"), vec![]);
        assert_eq!(variables("$bar"), vec![var("bar")]);
        assert_eq!(variables("${bar}"), vec![var("bar")]);
        assert_eq!(
            variables("${bar:-foo}"),
            vec![VariableRef {
                default: Some("foo".into()),
                ..var("bar")
            }]
        );
        assert_eq!(
            variables("${bar-foo}"),
            vec![VariableRef {
                default: Some("foo".into()),
                ..var("bar")
            }]
        );
        assert_eq!(
            variables("${bar?:foo}"),
            vec![VariableRef {
                required: true,
                error_message: Some(":foo".into()),
                ..var("bar")
            }]
        );
        assert_eq!(
            variables("${bar:?}"),
            vec![VariableRef {
                required: true,
                error_message: Some(String::new()),
                ..var("bar")
            }]
        );
        assert_eq!(
            variables("${bar:+foo}"),
            vec![VariableRef {
                alternate: Some("foo".into()),
                ..var("bar")
            }]
        );
        assert_eq!(
            variables("${bar+foo}"),
            vec![VariableRef {
                alternate: Some("foo".into()),
                ..var("bar")
            }]
        );
    }

    #[test]
    fn variables_nested_concatenated_and_combined() {
        assert_eq!(
            variables("${SUBDOMAIN:-redis}.${ROOTDOMAIN:?}"),
            vec![
                VariableRef {
                    default: Some("redis".into()),
                    ..var("SUBDOMAIN")
                },
                VariableRef {
                    required: true,
                    error_message: Some(String::new()),
                    ..var("ROOTDOMAIN")
                },
            ]
        );
        assert_eq!(
            variables("${SUBDOMAIN:-$ROOTDOMAIN}"),
            vec![
                VariableRef {
                    default: Some("$ROOTDOMAIN".into()),
                    ..var("SUBDOMAIN")
                },
                var("ROOTDOMAIN"),
            ]
        );
        assert_eq!(
            variables("${A:?need ${MSG}}"),
            vec![
                VariableRef {
                    required: true,
                    error_message: Some("need ${MSG}".into()),
                    ..var("A")
                },
                var("MSG"),
            ]
        );
        // a later reference fills in what the first lacks
        assert_eq!(
            variables("$A ${A:-x} ${A:?}"),
            vec![VariableRef {
                default: Some("x".into()),
                required: true,
                error_message: Some(String::new()),
                ..var("A")
            }]
        );
        // a malformed reference is skipped, the rest still counts
        assert_eq!(variables("${} $B ${C"), vec![var("B")]);
    }

    fn load(text: &str) -> (Sources, Node) {
        let mut sources = Sources::default();
        let id = sources.add("compose.yaml", text);
        let node = super::super::yaml::parse(&sources, id)
            .expect("valid yaml")
            .expect("not empty");
        (sources, node)
    }

    fn lookup(name: &str) -> Option<String> {
        env().get(name).map(|v| (*v).to_owned())
    }

    #[test]
    fn node_values_are_interpolated_keys_are_not() {
        let (sources, mut node) = load(
            "services:\n  $FOO:\n    image: \"nginx:${TAG:-latest}\"\n    ports:\n      - ${PORT}:80\n      - 9000\n    environment:\n      ${FOO}: $FOO\n      LIST:\n        - [a, $HOST]\n        - {k: $$raw}\n    command: echo $NOPE $NOPE ${ALSO}\n",
        );
        let mut warnings = Vec::new();
        interpolate_node(&mut node, &lookup, &sources, &mut warnings).expect("interpolates");
        let svc = node
            .get("services")
            .and_then(|s| s.get("$FOO"))
            .expect("key kept as written");
        assert_eq!(
            svc.get("image").and_then(Node::as_str),
            Some("nginx:latest")
        );
        let ports = svc.get("ports").and_then(Node::as_seq).expect("ports");
        assert_eq!(ports[0].as_str(), Some("8080:80"));
        assert!(matches!(ports[0].kind, NodeKind::Str { quoted: false, .. }));
        assert_eq!(ports[1].kind, NodeKind::Int(9000));
        let environment = svc.get("environment").expect("environment");
        assert_eq!(
            environment.get("${FOO}").and_then(Node::as_str),
            Some("first")
        );
        let list = environment
            .get("LIST")
            .and_then(Node::as_seq)
            .expect("list");
        assert_eq!(
            list[0].as_seq().and_then(|s| s[1].as_str()),
            Some("db.local")
        );
        assert_eq!(list[1].get("k").and_then(Node::as_str), Some("$raw"));
        assert_eq!(svc.get("command").and_then(Node::as_str), Some("echo   "));
        assert_eq!(
            warnings,
            vec![
                "the \"NOPE\" variable is not set. Defaulting to a blank string.".to_owned(),
                "the \"ALSO\" variable is not set. Defaulting to a blank string.".to_owned(),
            ]
        );
    }

    #[test]
    fn quoted_flag_is_kept() {
        let (sources, mut node) = load("a: '$PORT'\nb: $PORT\n");
        interpolate_node(&mut node, &lookup, &sources, &mut Vec::new()).expect("ok");
        assert_eq!(
            node.get("a").map(|n| &n.kind),
            Some(&NodeKind::Str {
                value: "8080".into(),
                quoted: true
            })
        );
        assert_eq!(
            node.get("b").map(|n| &n.kind),
            Some(&NodeKind::Str {
                value: "8080".into(),
                quoted: false
            })
        );
    }

    #[test]
    fn required_error_is_located_at_the_node() {
        let (sources, mut node) = load(
            "services:\n  db:\n    environment:\n      - A=1\n      - PASSWORD=${DB_PASSWORD:?set it in .env}\n",
        );
        let want_span = node
            .get("services")
            .and_then(|s| s.get("db"))
            .and_then(|s| s.get("environment"))
            .and_then(Node::as_seq)
            .map(|s| s[1].span)
            .expect("span");
        let err = interpolate_node(&mut node, &lookup, &sources, &mut Vec::new())
            .expect_err("DB_PASSWORD is missing");
        assert_eq!(err.kind, ErrorKind::Interpolation);
        assert_eq!(
            err.message,
            "required variable DB_PASSWORD is missing a value: set it in .env"
        );
        let loc = err.location.as_ref().expect("located");
        assert_eq!((loc.line, loc.col), (want_span.line, want_span.col));
        assert_eq!(loc.line, 5);
        let help = err.help.as_deref().expect("help");
        assert!(help.contains("services.db.environment[1]"), "{help}");
        assert!(help.contains("DB_PASSWORD"), "{help}");
    }

    #[test]
    fn malformed_error_names_the_path() {
        let (sources, mut node) = load("services:\n  web:\n    image: \"nginx:${TAG\"\n");
        let err =
            interpolate_node(&mut node, &lookup, &sources, &mut Vec::new()).expect_err("malformed");
        assert_eq!(err.kind, ErrorKind::Interpolation);
        assert_eq!(
            err.message,
            "invalid interpolation format for services.web.image: missing closing \"}\" in \"${TAG\""
        );
        let loc = err.location.as_ref().expect("located");
        assert_eq!((loc.line, loc.col), (3, 12));
        assert!(err.help.as_deref().is_some_and(|h| h.contains("$$")));
    }

    #[test]
    fn hand_built_tree() {
        let mut sources = Sources::default();
        let file = sources.add("x.yaml", "k: v\n");
        let span = Span {
            file,
            offset: 3,
            len: 1,
            line: 1,
            col: 4,
        };
        let mut node = Node::new(
            NodeKind::Map(vec![(
                super::super::node::Key {
                    name: "$FOO".into(),
                    span,
                },
                Node::new(NodeKind::Seq(vec![Node::string("${FOO?}", span)]), span),
            )]),
            span,
        );
        interpolate_node(&mut node, &lookup, &sources, &mut Vec::new()).expect("ok");
        assert_eq!(
            node.get("$FOO")
                .and_then(Node::as_seq)
                .and_then(|s| s[0].as_str()),
            Some("first")
        );
    }

    #[test]
    fn collect_variables_dedups_in_order() {
        let (_, node) = load(
            "services:\n  $KEYVAR:\n    image: ${IMG:-nginx}\n    ports: [\"${PORT}:80\", \"${PORT:?}\"]\n    environment:\n      X: ${IMG}\n      Y: $$NOT\n",
        );
        let mut out = Vec::new();
        collect_variables(&node, &mut out);
        assert_eq!(
            out,
            vec![
                VariableRef {
                    default: Some("nginx".into()),
                    ..var("IMG")
                },
                VariableRef {
                    required: true,
                    error_message: Some(String::new()),
                    ..var("PORT")
                },
            ]
        );
    }
}
