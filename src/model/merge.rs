//! Merging compose trees: several `-f` files, and `extends`.
//!
//! The Compose Specification says how a later file overrides an earlier one:
//! mappings merge key by key, scalars are replaced, and a few fields have
//! rules of their own. `command`, `entrypoint` and `healthcheck.test` are
//! replaced whole; `environment`, `labels` and similar key/value fields merge
//! by key whether written as a mapping or as a `KEY=VALUE` list; `ports`,
//! `volumes`, `secrets` and other lists are appended and then kept unique
//! (volumes by their container path, for example). `!reset` removes what the
//! earlier file said, `!override` replaces it without merging.
//!
//! Merging works on the spanned tree, so every value keeps the location of
//! the file that won.

use super::node::{Key, Node, NodeKind, PathSeg, Tag};

/// How the value at one path is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Mappings merge by key, lists append, scalars are replaced.
    Default,
    /// The later value replaces the earlier one.
    Replace,
    /// `KEY=VALUE` lists or mappings, merged by key.
    KeyValue,
    /// `extra_hosts`: `host:ip` / `host=ip` lists or mappings, by host.
    Hosts,
    /// Lists appended, then made unique by a key derived from each item.
    Unique(UniqueBy),
    /// `depends_on` / `networks`: a list of names or a mapping, by name.
    NamedMap,
    /// `logging`: merged when both use the same driver, else replaced.
    Logging,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UniqueBy {
    /// The whole value.
    Value,
    /// A volume's container path.
    VolumeTarget,
    /// A secret's or config's target (else its source).
    SecretTarget,
    /// A device's container path.
    DeviceTarget,
    /// An env_file's path.
    EnvFilePath,
}

fn rule_for(path: &[&str]) -> Rule {
    match path {
        ["services", _, field] => match *field {
            "command" | "entrypoint" => Rule::Replace,
            "environment" | "labels" | "annotations" | "sysctls" | "tmpfs_labels" => Rule::KeyValue,
            "extra_hosts" => Rule::Hosts,
            "depends_on" | "networks" => Rule::NamedMap,
            "logging" => Rule::Logging,
            "volumes" => Rule::Unique(UniqueBy::VolumeTarget),
            "secrets" | "configs" => Rule::Unique(UniqueBy::SecretTarget),
            "devices" => Rule::Unique(UniqueBy::DeviceTarget),
            "env_file" => Rule::Unique(UniqueBy::EnvFilePath),
            "ports" | "expose" | "cap_add" | "cap_drop" | "dns" | "dns_opt" | "dns_search"
            | "profiles" | "links" | "external_links" | "security_opt" | "volumes_from"
            | "group_add" | "tmpfs" => Rule::Unique(UniqueBy::Value),
            _ => Rule::Default,
        },
        ["services", _, "healthcheck", "test"] => Rule::Replace,
        [
            "services",
            _,
            "build",
            "args" | "labels" | "additional_contexts",
        ]
        | ["services", _, "deploy", "labels"]
        | ["networks" | "volumes" | "secrets" | "configs", _, "labels"] => Rule::KeyValue,
        ["services", _, "build", "extra_hosts"] => Rule::Hosts,
        ["services", _, "ulimits", _] => Rule::Replace,
        _ => Rule::Default,
    }
}

/// Merges `over` into `base` as a later compose file overrides an earlier one.
/// `path` is where the two values sit in the file (`["services", "web"]` for
/// a whole service), which decides the rules.
#[must_use]
pub fn merge(base: Node, over: Node, path: &[&str]) -> Node {
    match over.tag {
        Tag::Override => return untagged(over),
        Tag::Reset => return untagged(over),
        Tag::None => {}
    }
    match rule_for(path) {
        Rule::Replace => over,
        Rule::KeyValue => merge_key_value(base, over, '='),
        Rule::Hosts => merge_key_value(base, over, ':'),
        Rule::NamedMap => merge_maps(names_to_map(base), names_to_map(over), path),
        Rule::Unique(by) => match (base.kind, over.kind) {
            (NodeKind::Seq(mut items), NodeKind::Seq(more)) => {
                items.extend(more);
                Node {
                    kind: NodeKind::Seq(unique(items, by)),
                    span: over.span,
                    tag: Tag::None,
                }
            }
            (_, kind) => Node { kind, ..over },
        },
        Rule::Logging => {
            let same_driver = match (base.get("driver"), over.get("driver")) {
                (Some(a), Some(b)) => a.kind == b.kind,
                _ => true,
            };
            if same_driver {
                merge_maps(base, over, path)
            } else {
                over
            }
        }
        Rule::Default => match (&base.kind, &over.kind) {
            (NodeKind::Map(_), NodeKind::Map(_)) => merge_maps(base, over, path),
            (NodeKind::Seq(_), NodeKind::Seq(_)) => {
                let (NodeKind::Seq(mut items), NodeKind::Seq(more)) = (base.kind, over.kind) else {
                    unreachable!("matched above")
                };
                items.extend(more);
                Node {
                    kind: NodeKind::Seq(items),
                    span: over.span,
                    tag: Tag::None,
                }
            }
            _ => over,
        },
    }
}

/// Removes `!reset` values (and the tags of `!override` values) left in a
/// tree that was not merged over anything: a reset of nothing is nothing.
pub fn strip_tags(node: &mut Node) {
    node.tag = Tag::None;
    match &mut node.kind {
        NodeKind::Map(entries) => {
            entries.retain(|(_, v)| v.tag != Tag::Reset);
            for (_, v) in entries {
                strip_tags(v);
            }
        }
        NodeKind::Seq(items) => {
            items.retain(|v| v.tag != Tag::Reset);
            for v in items {
                strip_tags(v);
            }
        }
        _ => {}
    }
}

fn untagged(mut node: Node) -> Node {
    node.tag = Tag::None;
    node
}

fn merge_maps(base: Node, over: Node, path: &[&str]) -> Node {
    let span = base.span;
    let (NodeKind::Map(mut entries), NodeKind::Map(more)) = (base.kind, over.kind) else {
        return Node::new(NodeKind::Null, span);
    };
    for (key, value) in more {
        let reset = value.tag == Tag::Reset;
        match entries.iter().position(|(k, _)| k.name == key.name) {
            Some(i) if reset => {
                entries.remove(i);
            }
            None if reset => {}
            Some(i) if !key.name.starts_with("x-") => {
                let mut child = path.to_vec();
                child.push(&key.name);
                let old = std::mem::replace(&mut entries[i].1, Node::new(NodeKind::Null, span));
                entries[i].1 = merge(old, value, &child);
            }
            Some(i) => entries[i] = (key, untagged(value)),
            None => entries.push((key, untagged(value))),
        }
    }
    Node {
        kind: NodeKind::Map(entries),
        span,
        tag: Tag::None,
    }
}

/// Turns a `KEY=VALUE` list (or `host:ip` list) into a mapping; a mapping is
/// returned as is.
fn pairs_to_map(node: Node, sep: char) -> Node {
    match node.kind {
        NodeKind::Seq(items) => {
            let mut entries: Vec<(Key, Node)> = Vec::new();
            for item in items {
                let (name, value) = match item.as_str() {
                    Some(s) => match s.split_once(sep) {
                        Some((k, v)) => (k.to_owned(), Node::string(v, item.span)),
                        None => (s.to_owned(), Node::new(NodeKind::Null, item.span)),
                    },
                    None => (scalar_text(&item), Node::new(NodeKind::Null, item.span)),
                };
                let key = Key {
                    name,
                    span: item.span,
                };
                match entries.iter_mut().find(|(k, _)| k.name == key.name) {
                    Some(slot) => *slot = (key, value),
                    None => entries.push((key, value)),
                }
            }
            Node {
                kind: NodeKind::Map(entries),
                span: node.span,
                tag: node.tag,
            }
        }
        kind => Node { kind, ..node },
    }
}

fn scalar_text(node: &Node) -> String {
    match &node.kind {
        NodeKind::Str { value, .. } => value.clone(),
        NodeKind::Int(i) => i.to_string(),
        NodeKind::Float(f) => f.to_string(),
        NodeKind::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn merge_key_value(base: Node, over: Node, sep: char) -> Node {
    let base = pairs_to_map(base, sep);
    let over = pairs_to_map(over, sep);
    let span = base.span;
    let (NodeKind::Map(mut entries), NodeKind::Map(more)) = (base.kind, over.kind) else {
        return Node::new(NodeKind::Null, span);
    };
    for (key, value) in more {
        match entries.iter_mut().find(|(k, _)| k.name == key.name) {
            Some(slot) => *slot = (key, untagged(value)),
            None => entries.push((key, untagged(value))),
        }
    }
    Node {
        kind: NodeKind::Map(entries),
        span,
        tag: Tag::None,
    }
}

/// A list of names (`[db, cache]`) as a mapping of names to null.
fn names_to_map(node: Node) -> Node {
    match node.kind {
        NodeKind::Seq(items) => Node {
            kind: NodeKind::Map(
                items
                    .into_iter()
                    .map(|item| {
                        (
                            Key {
                                name: scalar_text(&item),
                                span: item.span,
                            },
                            Node::new(NodeKind::Null, item.span),
                        )
                    })
                    .collect(),
            ),
            span: node.span,
            tag: node.tag,
        },
        kind => Node { kind, ..node },
    }
}

fn unique(items: Vec<Node>, by: UniqueBy) -> Vec<Node> {
    let mut out: Vec<(String, Node)> = Vec::with_capacity(items.len());
    for item in items {
        let key = unique_key(&item, by);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = item,
            None => out.push((key, item)),
        }
    }
    out.into_iter().map(|(_, v)| v).collect()
}

fn unique_key(item: &Node, by: UniqueBy) -> String {
    let field = |name: &str| item.get(name).map(scalar_text);
    match (by, item.as_str()) {
        (UniqueBy::VolumeTarget, Some(s)) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [target] | [_, target] | [_, target, _] => (*target).to_owned(),
                _ => s.to_owned(),
            }
        }
        (UniqueBy::VolumeTarget, None) => field("target").unwrap_or_default(),
        (UniqueBy::SecretTarget, Some(s)) => s.to_owned(),
        (UniqueBy::SecretTarget, None) => field("target")
            .or_else(|| field("source"))
            .unwrap_or_default(),
        (UniqueBy::DeviceTarget, Some(s)) => {
            let parts: Vec<&str> = s.split(':').collect();
            parts.get(1).unwrap_or(&s).to_string()
        }
        (UniqueBy::DeviceTarget, None) => field("target").unwrap_or_default(),
        (UniqueBy::EnvFilePath, None) => field("path").unwrap_or_default(),
        (UniqueBy::EnvFilePath | UniqueBy::Value, Some(s)) => s.to_owned(),
        (UniqueBy::Value, None) => format!("{:?}", item.to_value()),
    }
}

/// Converts a tree path to the `&str` form [`merge`] takes.
#[must_use]
pub fn path_strs(path: &[PathSeg]) -> Vec<String> {
    path.iter()
        .map(|s| match s {
            PathSeg::Key(k) => k.clone(),
            PathSeg::Index(i) => i.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::source::Sources;
    use crate::model::yaml;

    fn parse(text: &str) -> Node {
        let mut sources = Sources::default();
        let id = sources.add("f.yaml", text);
        yaml::parse(&sources, id).unwrap().unwrap()
    }

    fn merged(a: &str, b: &str) -> serde_yaml::Value {
        let mut node = merge(parse(a), parse(b), &[]);
        strip_tags(&mut node);
        node.to_value()
    }

    fn yaml(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn scalars_are_replaced_and_mappings_merged() {
        let got = merged(
            "services: {web: {image: a, restart: always}}",
            "services: {web: {image: b}, db: {image: c}}",
        );
        assert_eq!(
            got,
            yaml("services: {web: {image: b, restart: always}, db: {image: c}}")
        );
    }

    #[test]
    fn command_is_replaced_not_appended() {
        let got = merged(
            "services: {web: {command: [a, b], healthcheck: {test: [CMD, x]}}}",
            "services: {web: {command: [c], healthcheck: {test: [CMD, y]}}}",
        );
        assert_eq!(
            got,
            yaml("services: {web: {command: [c], healthcheck: {test: [CMD, y]}}}")
        );
    }

    #[test]
    fn environment_merges_by_key_across_forms() {
        let got = merged(
            "services: {web: {environment: [A=1, B=2, C]}}",
            "services: {web: {environment: {B: 3, D: 4}}}",
        );
        assert_eq!(
            got,
            yaml("services: {web: {environment: {A: '1', B: 3, C: null, D: 4}}}")
        );
    }

    #[test]
    fn volumes_are_unique_by_target_and_ports_by_value() {
        let got = merged(
            "services: {web: {volumes: ['./a:/app', 'data:/data'], ports: ['80:80']}}",
            "services: {web: {volumes: ['./b:/app'], ports: ['80:80', '443:443']}}",
        );
        assert_eq!(
            got,
            yaml(
                "services: {web: {volumes: ['./b:/app', 'data:/data'], ports: ['80:80', '443:443']}}"
            )
        );
    }

    #[test]
    fn depends_on_list_and_map_merge() {
        let got = merged(
            "services: {web: {depends_on: [db]}}",
            "services: {web: {depends_on: {cache: {condition: service_healthy}}}}",
        );
        assert_eq!(
            got,
            yaml("services: {web: {depends_on: {db: null, cache: {condition: service_healthy}}}}")
        );
    }

    #[test]
    fn reset_removes_and_override_replaces() {
        let got = merged(
            "services: {web: {ports: ['80:80'], labels: {a: '1'}, build: {context: ., args: {X: '1'}}}}",
            "services: {web: {ports: !reset [], labels: !override {b: '2'}, build: !reset null}}",
        );
        assert_eq!(got, yaml("services: {web: {labels: {b: '2'}}}"));
    }

    #[test]
    fn reset_without_a_base_is_nothing() {
        let mut node = parse("services: {web: {image: a, ports: !reset []}}");
        strip_tags(&mut node);
        assert_eq!(node.to_value(), yaml("services: {web: {image: a}}"));
    }

    #[test]
    fn logging_with_another_driver_is_replaced() {
        let got = merged(
            "services: {web: {logging: {driver: json-file, options: {max-size: 1m}}}}",
            "services: {web: {logging: {driver: syslog}}}",
        );
        assert_eq!(got, yaml("services: {web: {logging: {driver: syslog}}}"));
    }

    #[test]
    fn merged_values_keep_the_span_of_the_file_that_won() {
        let base = parse("services:\n  web:\n    image: a\n");
        let over = parse("\n\nservices: {web: {image: b}}\n");
        let node = merge(base, over, &[]);
        let image = node
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("image")
            .unwrap();
        assert_eq!(image.span.line, 3);
        assert_eq!(image.span.col, 25);
    }
}
