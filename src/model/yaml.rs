//! Parsing YAML into a spanned [`Node`] tree, with compose's reading of it.
//!
//! serde_yaml's `Value` forgets where each value was written, and compose's
//! errors must name a line and column after files are merged, so muster
//! parses with yaml-rust2's event parser and builds its own tree. On the way
//! it does what compose (go-yaml v3) does and YAML 1.2 parsers do not all
//! agree on:
//!
//! - anchors and aliases are expanded, and merge keys (`<<: *x`, or a list
//!   of them) are applied, keys written in the mapping winning;
//! - a key written twice in one mapping is an error naming both lines;
//! - `!reset` and `!override` are kept on the node for [`super::merge`];
//! - plain scalars resolve with the YAML 1.2 core schema, except that an
//!   integer with a leading zero (`mode: 0440`) is octal, as go-yaml reads it.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag as YamlTag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::{ErrorKind, LoadError, Location};
use super::node::{Key, Node, NodeKind, Tag};
use super::source::{FileId, Sources, Span};

/// Parses the text of `file` (already registered in `sources`).
///
/// Returns `None` for a file holding no document at all (empty, or only
/// comments).
///
/// # Errors
/// A [`LoadError`] for malformed YAML, duplicate keys, aliases to unknown
/// anchors, merge keys whose value is not a mapping, and several documents
/// in one file.
pub fn parse(sources: &Sources, file: FileId) -> Result<Option<Node>, LoadError> {
    let text = sources.get(file).text.clone();
    check_block_depth(&text).map_err(|(line, message)| {
        let span = Span {
            file,
            offset: 0,
            len: 0,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: 1,
        };
        LoadError::new(ErrorKind::Syntax, message)
            .at_span(sources, span)
            .help("compose files are a few levels deep; this one is not a compose file")
    })?;
    let lines = LineIndex::new(&text);
    let mut builder = Builder {
        file,
        lines: &lines,
        text: &text,
        stack: Vec::new(),
        anchors: Vec::new(),
        expanded: 0,
        documents: Vec::new(),
        error: None,
    };
    let mut parser = Parser::new_from_str(&text);
    if let Err(e) = parser.load(&mut builder, true) {
        let span = builder.span_at(e.marker(), 1);
        if e.info().contains("unknown anchor") {
            let name: String = text[span.offset..]
                .trim_start_matches('*')
                .chars()
                .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
                .collect();
            return Err(LoadError::new(
                ErrorKind::Syntax,
                format!("invalid YAML: unknown anchor `{name}`"),
            )
            .at_span(sources, span)
            .help(format!(
                "define the anchor with `&{name}` before this alias"
            )));
        }
        return Err(LoadError::new(
            ErrorKind::Syntax,
            format!("invalid YAML: {}", describe_scan_error(e.info())),
        )
        .at_span(sources, span)
        .help("check the indentation and quoting around this line"));
    }
    if let Some(err) = builder.error {
        return Err(err.into_load_error(sources));
    }
    let mut docs = builder.documents.into_iter();
    let first = docs.next();
    if let Some(second) = docs.next() {
        return Err(LoadError::new(
            ErrorKind::Syntax,
            "a compose file holds one YAML document, but this one has several",
        )
        .at_span(sources, second.span)
        .help("remove the `---` separator, or split the documents into files passed with -f"));
    }
    Ok(first)
}

/// How deep values may nest: far beyond any compose file, well within the
/// stack of the recursive steps that follow parsing.
const MAX_DEPTH: usize = 128;

/// How many values alias expansion may create in one file.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// The widest indentation, and the most `- ` markers opening one line, that
/// a file may have. The YAML parser recurses once per block level, so a
/// file nested thousands of levels deep would overflow its stack before
/// [`MAX_DEPTH`] could stop it; this looks at the text first.
const MAX_INDENT: usize = 1024;

fn check_block_depth(text: &str) -> Result<(), (usize, String)> {
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let mut rest = line.trim_start();
        let mut markers = 0;
        while let Some(after) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            markers += 1;
            rest = after.trim_start();
        }
        if indent > MAX_INDENT || markers > MAX_DEPTH {
            return Err((
                i + 1,
                format!("values nest more than {MAX_DEPTH} levels deep"),
            ));
        }
    }
    Ok(())
}

fn node_count(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        NodeKind::Map(entries) => 1 + entries.iter().map(|(_, v)| node_count(v)).sum::<usize>(),
        _ => 1,
    }
}

/// Resolves a plain scalar as go-yaml v3 does for untyped values.
#[must_use]
pub fn resolve_plain(s: &str) -> NodeKind {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeKind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeKind::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(s) {
        return NodeKind::Int(i);
    }
    if looks_like_float(s)
        && let Ok(f) = s.parse::<f64>()
    {
        return NodeKind::Float(f);
    }
    NodeKind::Str {
        value: s.to_owned(),
        quoted: false,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        // go-yaml parses with Go's base prefix rules: `0440` is octal.
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    let magnitude = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -magnitude } else { magnitude })
}

fn looks_like_float(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut digits = 0;
    let mut seen_dot = false;
    let mut chars = body.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '0'..='9' => digits += 1,
            '.' if !seen_dot => seen_dot = true,
            'e' | 'E' if digits > 0 => {
                chars.next();
                let exp = chars.collect::<String>();
                let exp = exp.strip_prefix(['-', '+']).unwrap_or(&exp);
                return !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit());
            }
            _ => return false,
        }
        chars.next();
    }
    digits > 0
}

fn describe_scan_error(info: &str) -> String {
    // yaml-rust2's wording is libyaml's; keep it, it is what users search for.
    info.trim_end_matches('.').to_owned()
}

/// Maps yaml-rust2's (line, character column) markers to byte offsets.
struct LineIndex {
    starts: Vec<usize>,
    /// Whether every character is one byte, so that a marker's character
    /// index is its byte offset (most compose files).
    ascii: bool,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            starts,
            ascii: text.is_ascii(),
        }
    }

    /// Byte offset of a marker: its 1-based line and 0-based character
    /// column, or its character index in ASCII text.
    fn offset(&self, text: &str, mark: &Marker) -> usize {
        if self.ascii {
            return mark.index().min(text.len());
        }
        let (line, col) = (mark.line(), mark.col());
        let Some(&start) = self.starts.get(line.saturating_sub(1)) else {
            return text.len();
        };
        let rest = &text[start..];
        rest.char_indices()
            .nth(col)
            .map_or(text.len(), |(i, _)| start + i)
    }
}

/// An error found while building the tree, turned into a [`LoadError`]
/// once the parser is done (the receiver cannot return errors).
enum BuildError {
    DuplicateKey {
        key: String,
        first: Span,
        second: Span,
    },
    UnknownAlias(Span),
    BadMerge(Span, &'static str),
    AliasBomb(Span),
    TooDeep(Span),
}

impl BuildError {
    fn into_load_error(self, sources: &Sources) -> LoadError {
        match self {
            Self::DuplicateKey { key, first, second } => LoadError::new(
                ErrorKind::DuplicateKey,
                format!(
                    "duplicate key `{key}`: it is already defined on line {}",
                    first.line
                ),
            )
            .at_span(sources, second)
            .related(Location::of(sources, first), "first defined here")
            .help(format!(
                "a mapping may hold `{key}` once: remove one of the two, or merge them"
            )),
            Self::UnknownAlias(span) => LoadError::new(
                ErrorKind::Syntax,
                "this alias refers to an anchor that is not defined before it",
            )
            .at_span(sources, span)
            .help("define the anchor (`&name`) before the alias (`*name`) that uses it"),
            Self::AliasBomb(span) => LoadError::new(
                ErrorKind::Syntax,
                format!("aliases in this file expand to more than {MAX_ALIAS_NODES} values"),
            )
            .at_span(sources, span)
            .help("anchors that nest aliases of each other grow exponentially; use fewer levels"),
            Self::TooDeep(span) => LoadError::new(
                ErrorKind::Syntax,
                format!("values nest more than {MAX_DEPTH} levels deep"),
            )
            .at_span(sources, span)
            .help("compose files are a few levels deep; this one is not a compose file"),
            Self::BadMerge(span, found) => LoadError::new(
                ErrorKind::Syntax,
                format!("a merge key `<<` needs a mapping or a list of mappings, found {found}"),
            )
            .at_span(sources, span)
            .help("write `<<: *anchor` where the anchor names a mapping"),
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
        tag: Tag,
    },
    Map {
        entries: Vec<(Key, Node)>,
        /// Mappings pulled in with `<<`, applied when the mapping ends.
        merges: Vec<Node>,
        /// Finds keys already seen, for duplicate-key errors.
        index: KeyIndex,
        pending_key: Option<Key>,
        span: Span,
        anchor: usize,
        tag: Tag,
    },
}

struct Builder<'a> {
    file: FileId,
    lines: &'a LineIndex,
    text: &'a str,
    stack: Vec<Frame>,
    /// Anchored nodes by anchor id, with their size in nodes.
    anchors: Vec<(usize, Node, usize)>,
    /// Nodes created by expanding aliases so far (bounded: a "billion
    /// laughs" file must not run the machine out of memory).
    expanded: usize,
    documents: Vec<Node>,
    error: Option<BuildError>,
}

impl Builder<'_> {
    fn span_at(&self, mark: &Marker, len: usize) -> Span {
        let offset = self.lines.offset(self.text, mark);
        let len = len.min(self.text.len().saturating_sub(offset));
        Span {
            file: self.file,
            offset,
            len,
            line: u32::try_from(mark.line()).unwrap_or(u32::MAX),
            col: u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
        }
    }

    fn fail(&mut self, error: BuildError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    fn remember_anchor(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone(), node_count(node)));
        }
    }

    /// Hands a finished node to whatever contains it.
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                merges,
                pending_key,
                index,
                ..
            }) => match pending_key.take() {
                None => {
                    let span = node.span;
                    *pending_key = Some(Key {
                        name: scalar_key_text(node),
                        span,
                    });
                }
                Some(key) if key.name == "<<" => merges.push(node),
                Some(key) => {
                    if let Some(first) = index.first(entries, &key.name) {
                        let error = BuildError::DuplicateKey {
                            key: key.name.clone(),
                            first,
                            second: key.span,
                        };
                        self.fail(error);
                    } else {
                        index.insert(entries, &key.name);
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    fn finish_map(
        &mut self,
        mut entries: Vec<(Key, Node)>,
        merges: Vec<Node>,
        span: Span,
        tag: Tag,
    ) -> Node {
        // Explicit keys win over merged ones; earlier merge sources win over
        // later ones (YAML merge key semantics).
        let mut sources = Vec::new();
        for merge in merges {
            match merge.kind {
                NodeKind::Map(_) => sources.push(merge),
                NodeKind::Seq(items) => {
                    for item in items {
                        if matches!(item.kind, NodeKind::Map(_)) {
                            sources.push(item);
                        } else {
                            self.fail(BuildError::BadMerge(item.span, item.type_name()));
                        }
                    }
                }
                _ => self.fail(BuildError::BadMerge(merge.span, merge.type_name())),
            }
        }
        for source in sources {
            if let NodeKind::Map(merged) = source.kind {
                for (k, v) in merged {
                    if !entries.iter().any(|(e, _)| e.name == k.name) {
                        entries.push((k, v));
                    }
                }
            }
        }
        Node {
            kind: NodeKind::Map(entries),
            span,
            tag,
        }
    }
}

/// Finds a mapping's keys: by scanning while the mapping is small (most
/// are), by hash once it is large (`services:` of a big project).
#[derive(Default)]
struct KeyIndex {
    hashed: Option<std::collections::HashMap<String, usize>>,
}

impl KeyIndex {
    const SCAN_LIMIT: usize = 16;

    /// The span of the key `name` among `entries`, if present.
    fn first(&self, entries: &[(Key, Node)], name: &str) -> Option<Span> {
        match &self.hashed {
            Some(map) => map.get(name).map(|&i| entries[i].0.span),
            None => entries
                .iter()
                .find(|(k, _)| k.name == name)
                .map(|(k, _)| k.span),
        }
    }

    /// Records that the entry about to be pushed onto `entries` has key
    /// `name`.
    fn insert(&mut self, entries: &[(Key, Node)], name: &str) {
        if self.hashed.is_none() && entries.len() >= Self::SCAN_LIMIT {
            self.hashed = Some(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.name.clone(), i))
                    .collect(),
            );
        }
        if let Some(map) = &mut self.hashed {
            map.insert(name.to_owned(), entries.len());
        }
    }
}

/// A key's text; a string key's text is moved, not copied (a large file
/// has tens of thousands of keys).
fn scalar_key_text(node: Node) -> String {
    match node.kind {
        NodeKind::Str { value, .. } => value,
        NodeKind::Null => "null".to_owned(),
        NodeKind::Bool(b) => b.to_string(),
        NodeKind::Int(i) => i.to_string(),
        NodeKind::Float(f) => f.to_string(),
        NodeKind::Seq(_) | NodeKind::Map(_) => String::from("<complex key>"),
    }
}

fn merge_tag(tag: Option<&YamlTag>) -> Tag {
    match tag {
        Some(t) if t.handle == "!" && t.suffix == "reset" => Tag::Reset,
        Some(t) if t.handle == "!" && t.suffix == "override" => Tag::Override,
        _ => Tag::None,
    }
}

/// The core-schema type a `!!type` tag asks for, if any.
fn core_tag(tag: Option<&YamlTag>) -> Option<&str> {
    let t = tag?;
    if t.handle == "!!" {
        return Some(t.suffix.as_str());
    }
    t.suffix.strip_prefix("tag:yaml.org,2002:")
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
            Event::Alias(id) => {
                let span = self.span_at(&mark, 1);
                match self.anchors.iter().rev().find(|(a, _, _)| *a == id) {
                    Some((_, node, size)) => {
                        self.expanded = self.expanded.saturating_add(*size);
                        if self.expanded > MAX_ALIAS_NODES {
                            self.fail(BuildError::AliasBomb(span));
                        } else {
                            let node = node.clone();
                            self.push(node);
                        }
                    }
                    None => self.fail(BuildError::UnknownAlias(span)),
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let len = match style {
                    TScalarStyle::Plain => value.len(),
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => value.len() + 2,
                    TScalarStyle::Literal | TScalarStyle::Folded => 1,
                };
                let span = self.span_at(&mark, len.max(1));
                // A mapping key is a name: keep it as written (`0440:` is
                // the key "0440", not 288).
                let is_key = matches!(
                    self.stack.last(),
                    Some(Frame::Map {
                        pending_key: None,
                        ..
                    })
                );
                let kind = match (core_tag(tag.as_ref()), style) {
                    _ if is_key && !value.is_empty() => NodeKind::Str {
                        value,
                        quoted: true,
                    },
                    (Some("str"), _) => NodeKind::Str {
                        value,
                        quoted: true,
                    },
                    (Some("null"), _) => NodeKind::Null,
                    (Some(_), _) | (None, TScalarStyle::Plain) => resolve_plain(&value),
                    (None, _) => NodeKind::Str {
                        value,
                        quoted: true,
                    },
                };
                let node = Node {
                    kind,
                    span,
                    tag: merge_tag(tag.as_ref()),
                };
                self.remember_anchor(anchor, &node);
                self.push(node);
            }
            Event::SequenceStart(anchor, tag) => {
                let span = self.span_at(&mark, 1);
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(BuildError::TooDeep(span));
                    return;
                }
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    span,
                    anchor,
                    tag: merge_tag(tag.as_ref()),
                });
            }
            Event::MappingStart(anchor, tag) => {
                let span = self.span_at(&mark, 1);
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(BuildError::TooDeep(span));
                    return;
                }
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    merges: Vec::new(),
                    index: KeyIndex::default(),
                    pending_key: None,
                    span,
                    anchor,
                    tag: merge_tag(tag.as_ref()),
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    span,
                    anchor,
                    tag,
                }) = self.stack.pop()
                {
                    let node = Node {
                        kind: NodeKind::Seq(items),
                        span,
                        tag,
                    };
                    self.remember_anchor(anchor, &node);
                    self.push(node);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    entries,
                    merges,
                    span,
                    anchor,
                    tag,
                    ..
                }) = self.stack.pop()
                {
                    // A block mapping's start mark is its first key's colon:
                    // the first key is where a person sees it start.
                    let span = match entries.first() {
                        Some((key, _)) if !self.text[span.offset..].starts_with('{') => {
                            Span { len: 1, ..key.span }
                        }
                        _ => span,
                    };
                    let node = self.finish_map(entries, merges, span, tag);
                    self.remember_anchor(anchor, &node);
                    self.push(node);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Option<Node>, LoadError> {
        let mut sources = Sources::default();
        let id = sources.add("compose.yaml", text);
        parse(&sources, id)
    }

    fn value(text: &str) -> serde_yaml::Value {
        load(text).unwrap().unwrap().to_value()
    }

    #[test]
    fn resolves_scalars_like_go_yaml() {
        let cases: &[(&str, NodeKind)] = &[
            ("", NodeKind::Null),
            ("~", NodeKind::Null),
            ("true", NodeKind::Bool(true)),
            ("False", NodeKind::Bool(false)),
            ("42", NodeKind::Int(42)),
            ("-7", NodeKind::Int(-7)),
            ("0440", NodeKind::Int(0o440)),
            ("0o17", NodeKind::Int(15)),
            ("0x1F", NodeKind::Int(31)),
            ("0", NodeKind::Int(0)),
            ("3.8", NodeKind::Float(3.8)),
            ("1e3", NodeKind::Float(1000.0)),
        ];
        for (text, want) in cases {
            assert_eq!(&resolve_plain(text), want, "{text:?}");
        }
        for text in ["yes", "on", "8080:80", "1.2.3", "0x", "1e", "abc"] {
            assert!(
                matches!(resolve_plain(text), NodeKind::Str { .. }),
                "{text:?} should stay a string"
            );
        }
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let v = value("a: '0440'\nb: \"true\"\nc: 0440\n");
        assert_eq!(v["a"], serde_yaml::Value::from("0440"));
        assert_eq!(v["b"], serde_yaml::Value::from("true"));
        assert_eq!(v["c"], serde_yaml::Value::from(288));
    }

    #[test]
    fn merge_keys_keep_explicit_values() {
        let v =
            value("base: &b {image: x, restart: always}\nsvc:\n  <<: *b\n  image: y\n  extra: 1\n");
        assert_eq!(v["svc"]["image"], serde_yaml::Value::from("y"));
        assert_eq!(v["svc"]["restart"], serde_yaml::Value::from("always"));
        assert_eq!(v["svc"]["extra"], serde_yaml::Value::from(1));
    }

    #[test]
    fn merge_key_with_a_list_prefers_earlier_sources() {
        let v = value("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n");
        assert_eq!(v["c"]["x"], serde_yaml::Value::from(1));
        assert_eq!(v["c"]["y"], serde_yaml::Value::from(2));
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let err = load("services:\n  web:\n    image: a\n    image: b\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::DuplicateKey);
        assert_eq!(
            err.to_string(),
            "compose.yaml:4:5: duplicate key `image`: it is already defined on line 3"
        );
    }

    #[test]
    fn duplicate_keys_are_found_in_large_mappings() {
        let mut text = String::from("services:\n");
        for i in 0..40 {
            text.push_str(&format!("  s{i}: {{image: x}}\n"));
        }
        text.push_str("  s3: {image: y}\n");
        let err = load(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "compose.yaml:42:3: duplicate key `s3`: it is already defined on line 5"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let blocks = "- ".repeat(10_000) + "a\n";
        assert_eq!(load(&blocks).unwrap_err().kind, ErrorKind::Syntax);
        let mut indented = String::new();
        for i in 0..2_000 {
            indented.push_str(&" ".repeat(i));
            indented.push_str("k:\n");
        }
        assert_eq!(load(&indented).unwrap_err().kind, ErrorKind::Syntax);
        let flow = "[".repeat(200) + &"]".repeat(200);
        assert!(load(&flow).is_err());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = (b'a' + i - 1) as char;
            let name = (b'a' + i) as char;
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let err = load(&text).unwrap_err();
        assert!(
            err.message
                .contains("aliases in this file expand to more than")
        );
    }

    #[test]
    fn keys_are_kept_as_written() {
        let v = value("0440: a\n1.0: b\ntrue: c\nx: 0440\n");
        assert_eq!(v["0440"], serde_yaml::Value::from("a"));
        assert_eq!(v["1.0"], serde_yaml::Value::from("b"));
        assert_eq!(v["true"], serde_yaml::Value::from("c"));
        assert_eq!(v["x"], serde_yaml::Value::from(288));
    }

    #[test]
    fn keeps_reset_and_override_tags() {
        let node = load("a: !reset []\nb: !override {x: 1}\n")
            .unwrap()
            .unwrap();
        assert_eq!(node.get("a").unwrap().tag, Tag::Reset);
        assert_eq!(node.get("b").unwrap().tag, Tag::Override);
    }

    #[test]
    fn spans_point_at_values_in_bytes() {
        let text = "services:\n  wéb:\n    image: nginx\n";
        let node = load(text).unwrap().unwrap();
        let image = node
            .get("services")
            .unwrap()
            .get("wéb")
            .unwrap()
            .get("image")
            .unwrap();
        assert_eq!((image.span.line, image.span.col), (3, 12));
        assert_eq!(
            &text[image.span.offset..image.span.offset + image.span.len],
            "nginx"
        );
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = load("services:\n  web:\n    image: [a\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Syntax);
        assert!(err.location.is_some());
    }

    #[test]
    fn empty_file_is_no_document() {
        assert!(load("# nothing here\n").unwrap().is_none());
    }

    #[test]
    fn space_before_colon_and_indentless_lists() {
        let v = value("name : x\nports:\n- 80\n- \"81\"\n");
        assert_eq!(v["name"], serde_yaml::Value::from("x"));
        assert_eq!(v["ports"][1], serde_yaml::Value::from("81"));
    }
}
