//! Deserializing typed values straight from the spanned [`Node`] tree.
//!
//! Going through `serde_yaml::Value` first would copy the whole tree and
//! lose the positions; deserializing from the nodes themselves is faster and
//! lets an error carry the span of the value (or key) it is about, so the
//! loader can point at the exact spot without searching for it.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::node::{Key, Node, NodeKind};
use super::source::Span;

/// A deserialization error, with the span of the value it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    /// serde's message (`unknown field ...`, `invalid type ...`, or the
    /// type's own message).
    pub message: String,
    /// The value or key the error is about, once known.
    pub span: Option<Span>,
}

impl DeError {
    fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            span: None,
        }
    }
}

/// Deserializes a `T` from a node tree.
///
/// # Errors
/// The first error met, with the span of the value it is about.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(node)
}

impl<'de> Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str { value, .. } => visitor.visit_borrowed_str(value),
            NodeKind::Seq(items) => {
                let mut access = Seq {
                    items: items.iter(),
                };
                let value = visitor.visit_seq(&mut access)?;
                if access.items.len() > 0 {
                    return Err(de::Error::invalid_length(items.len(), &"fewer elements"));
                }
                Ok(value)
            }
            NodeKind::Map(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| e.at(self.span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            visitor.visit_none().map_err(|e: DeError| e.at(self.span))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.kind {
            NodeKind::Str { value, .. } => visitor.visit_enum(value.as_str().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(Enum { key, value })
            }
            _ => Err(de::Error::invalid_type(unexpected(self), &visitor)),
        };
        result.map_err(|e| e.at(self.span))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    // An empty value where a mapping or list is expected reads as an empty
    // one, as serde_yaml and compose read `volumes: {data:}`.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            return visitor
                .visit_map(Map {
                    entries: [].iter(),
                    value: None,
                })
                .map_err(|e: DeError| e.at(self.span));
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            return visitor
                .visit_seq(&mut Seq { items: [].iter() })
                .map_err(|e: DeError| e.at(self.span));
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

fn unexpected(node: &Node) -> de::Unexpected<'_> {
    match &node.kind {
        NodeKind::Null => de::Unexpected::Unit,
        NodeKind::Bool(b) => de::Unexpected::Bool(*b),
        NodeKind::Int(i) => de::Unexpected::Signed(*i),
        NodeKind::Float(f) => de::Unexpected::Float(*f),
        NodeKind::Str { value, .. } => de::Unexpected::Str(value),
        NodeKind::Seq(_) => de::Unexpected::Seq,
        NodeKind::Map(_) => de::Unexpected::Map,
    }
}

struct Seq<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for &mut Seq<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        self.items
            .next()
            .map(|item| seed.deserialize(item).map_err(|e| e.at(item.span)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'de> {
    entries: std::slice::Iter<'de, (Key, Node)>,
    /// The entry whose key was just read.
    value: Option<&'de (Key, Node)>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let key = &entry.0;
        seed.deserialize(KeyDeserializer(key))
            .map(Some)
            .map_err(|e| e.at(key.span))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value asked for before its key"))?;
        // An empty value has no text of its own: its key stands for it.
        let span = if value.is_null() {
            key.span
        } else {
            value.span
        };
        seed.deserialize(value).map_err(|e| e.at(span))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A mapping key: always a string.
struct KeyDeserializer<'de>(&'de Key);

impl<'de> Deserializer<'de> for KeyDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(&self.0.name)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_enum(self.0.name.as_str().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// `{variant: value}`: an externally tagged enum value.
struct Enum<'de> {
    key: &'de Key,
    value: &'de Node,
}

impl<'de> EnumAccess<'de> for Enum<'de> {
    type Error = DeError;
    type Variant = &'de Node;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, &'de Node), DeError> {
        let variant = seed
            .deserialize(KeyDeserializer(self.key))
            .map_err(|e| e.at(self.key.span))?;
        Ok((variant, self.value))
    }
}

impl<'de> VariantAccess<'de> for &'de Node {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        if self.is_null() {
            Ok(())
        } else {
            Err(de::Error::invalid_type(unexpected(self), &"unit variant"))
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::model::source::Sources;
    use crate::model::yaml;

    fn parse(text: &str) -> Node {
        let mut sources = Sources::default();
        let id = sources.add("f.yaml", text);
        yaml::parse(&sources, id).unwrap().unwrap()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Svc {
        image: String,
        #[serde(default)]
        ports: Vec<u16>,
        mode: Option<Mode>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow,
    }

    #[test]
    fn deserializes_structs_lists_maps_and_enums() {
        let node = parse("image: a\nports: [80, 443]\nmode: slow\nlabels: {x: y}\n");
        let svc: Svc = from_node(&node).unwrap();
        assert_eq!(
            svc,
            Svc {
                image: "a".into(),
                ports: vec![80, 443],
                mode: Some(Mode::Slow),
                labels: BTreeMap::from([("x".into(), "y".into())]),
            }
        );
    }

    #[test]
    fn errors_carry_the_span_of_the_value() {
        let node = parse("image: a\nports: [80, nope]\n");
        let err = from_node::<Svc>(&node).unwrap_err();
        assert!(err.message.starts_with("invalid type: string \"nope\""));
        let span = err.span.unwrap();
        assert_eq!((span.line, span.col), (2, 13));
    }

    #[test]
    fn unknown_keys_point_at_the_key() {
        let node = parse("image: a\nimagee: b\n");
        let err = from_node::<Svc>(&node).unwrap_err();
        assert!(err.message.starts_with("unknown field `imagee`"));
        let span = err.span.unwrap();
        assert_eq!((span.line, span.col), (2, 1));
    }
}
