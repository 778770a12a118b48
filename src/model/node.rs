//! The YAML tree muster works on before it has types: every node keeps its
//! [`Span`], so errors found after merging, `extends` and `include` still
//! point at the line the user wrote.

use super::source::Span;

/// A YAML tag muster gives meaning to (the Compose Specification's merge
/// tags); any other tag is kept out of the tree by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tag {
    /// No tag.
    #[default]
    None,
    /// `!reset`: when merging, remove the value inherited from earlier files.
    Reset,
    /// `!override`: when merging, replace the inherited value wholesale.
    Override,
}

/// A scalar's value as YAML resolved it (YAML 1.2 core schema, plus the
/// leading-zero octal integers compose accepts).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string; `quoted` is true when it was written in quotes or as a
    /// block scalar (so it never resolves to another type).
    Str { value: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order. Keys are strings (compose allows no other).
    Map(Vec<(Key, Node)>),
}

/// A mapping key, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as text (non-string scalar keys are turned into their text).
    pub name: String,
    /// Where the key was written.
    pub span: Span,
}

/// A value in a compose file, with its position and tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where the value was written.
    pub span: Span,
    /// The merge tag on the value, if any.
    pub tag: Tag,
}

/// One step of a path into a [`Node`] tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path written as compose users read it: `services.web.ports[0]`.
#[must_use]
pub fn dotted(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

impl Node {
    /// A node with no tag.
    #[must_use]
    pub fn new(kind: NodeKind, span: Span) -> Self {
        Self {
            kind,
            span,
            tag: Tag::None,
        }
    }

    /// A string node.
    #[must_use]
    pub fn string(value: impl Into<String>, span: Span) -> Self {
        Self::new(
            NodeKind::Str {
                value: value.into(),
                quoted: true,
            },
            span,
        )
    }

    /// The string value, for a string node.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The entries, for a mapping node.
    #[must_use]
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entries, for a mapping node, mutably.
    pub fn as_map_mut(&mut self) -> Option<&mut Vec<(Key, Node)>> {
        match &mut self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items, for a sequence node.
    #[must_use]
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is a null node.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The value under `key`, for a mapping node.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The value under `key`, for a mapping node, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The key entry for `key`, for a mapping node.
    #[must_use]
    pub fn key(&self, key: &str) -> Option<&Key> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k)
    }

    /// Follows `path` down the tree; returns the deepest node reached and,
    /// when the last step was a mapping key, that key.
    #[must_use]
    pub fn lookup<'a>(&'a self, path: &[PathSeg]) -> (&'a Node, Option<&'a Key>) {
        let mut node = self;
        let mut key = None;
        for seg in path {
            let next = match (seg, &node.kind) {
                (PathSeg::Key(name), NodeKind::Map(entries)) => entries
                    .iter()
                    .find(|(k, _)| &k.name == name)
                    .map(|(k, v)| (Some(k), v)),
                (PathSeg::Index(i), NodeKind::Seq(items)) => items.get(*i).map(|v| (None, v)),
                _ => None,
            };
            match next {
                Some((k, v)) => {
                    key = k;
                    node = v;
                }
                None => break,
            }
        }
        (node, key)
    }

    /// Converts the tree to a `serde_yaml::Value`, for typed deserialization.
    #[must_use]
    pub fn to_value(&self) -> serde_yaml::Value {
        use serde_yaml::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Number((*i).into()),
            NodeKind::Float(f) => Value::Number((*f).into()),
            NodeKind::Str { value, .. } => Value::String(value.clone()),
            NodeKind::Seq(items) => Value::Sequence(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => Value::Mapping(
                entries
                    .iter()
                    .map(|(k, v)| (Value::String(k.name.clone()), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// A short description of the node's type, for error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str { .. } => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}
