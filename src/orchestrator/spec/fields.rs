//! The names of the fields a value would serialize, without serializing
//! their values.
//!
//! [`super::ignored_fields`] asks which top-level fields a service sets.
//! The typed model already knows: its `skip_serializing_if`s leave out what
//! is unset. Serializing a whole service to JSON to read its keys cost
//! about 40,000 instructions a service (17% of `config` on a 1,000-service
//! file); this serializer records each field's name and never touches its
//! value.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible, SerializeMap, SerializeStruct, Serializer};

/// The fields `value` serializes, in order: a struct's field names, or a
/// map's string keys (a struct with a `flatten`ed field serializes as a
/// map). Anything else has no fields.
pub(super) fn present_fields<T: Serialize + ?Sized>(value: &T) -> Vec<String> {
    let mut names = Vec::new();
    // Anything but a struct or a map answers `NotAStruct`: no fields.
    let _ = value.serialize(FieldNames(&mut names));
    names
}

struct FieldNames<'a>(&'a mut Vec<String>);

/// What [`FieldNames`] answers for a value that is not a struct or a map.
#[derive(Debug)]
struct NotAStruct;

impl fmt::Display for NotAStruct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a struct or a map")
    }
}

impl std::error::Error for NotAStruct {}

impl ser::Error for NotAStruct {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Self
    }
}

impl SerializeStruct for FieldNames<'_> {
    type Ok = ();
    type Error = NotAStruct;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        _value: &T,
    ) -> Result<(), NotAStruct> {
        self.0.push(key.to_owned());
        Ok(())
    }

    fn end(self) -> Result<(), NotAStruct> {
        Ok(())
    }
}

impl SerializeMap for FieldNames<'_> {
    type Ok = ();
    type Error = NotAStruct;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NotAStruct> {
        // Keys are short strings: JSON is a cheap way to read one.
        if let Ok(serde_json::Value::String(key)) = serde_json::to_value(key) {
            self.0.push(key);
        }
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, _value: &T) -> Result<(), NotAStruct> {
        Ok(())
    }

    fn end(self) -> Result<(), NotAStruct> {
        Ok(())
    }
}

/// Serializer methods for values that have no fields.
macro_rules! no_fields {
    ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(
            fn $method(self, $(_: $arg),*) -> Result<$ok, NotAStruct> {
                Err(NotAStruct)
            }
        )*
    };
}

impl<'a> Serializer for FieldNames<'a> {
    type Ok = ();
    type Error = NotAStruct;
    type SerializeSeq = Impossible<(), NotAStruct>;
    type SerializeTuple = Impossible<(), NotAStruct>;
    type SerializeTupleStruct = Impossible<(), NotAStruct>;
    type SerializeTupleVariant = Impossible<(), NotAStruct>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), NotAStruct>;

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, NotAStruct> {
        Ok(self)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self, NotAStruct> {
        Ok(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotAStruct> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), NotAStruct> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }

    no_fields! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::present_fields;

    #[derive(serde::Serialize)]
    struct Plain {
        always: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        maybe: Option<u8>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        list: Vec<u8>,
    }

    #[derive(serde::Serialize)]
    struct Flattened {
        name: String,
        #[serde(flatten)]
        extra: BTreeMap<String, u8>,
    }

    #[test]
    fn only_the_fields_that_serialize_are_named() {
        let plain = Plain {
            always: 1,
            maybe: None,
            list: vec![2],
        };
        assert_eq!(present_fields(&plain), ["always", "list"]);
        assert_eq!(present_fields(&Some(&plain)), ["always", "list"]);
    }

    #[test]
    fn flattened_maps_give_their_keys() {
        let value = Flattened {
            name: "x".into(),
            extra: BTreeMap::from([("x-extra".to_owned(), 1)]),
        };
        assert_eq!(present_fields(&value), ["name", "x-extra"]);
    }

    #[test]
    fn values_without_fields_have_none() {
        assert!(present_fields(&3).is_empty());
        assert!(present_fields(&vec![1, 2]).is_empty());
        assert!(present_fields(&None::<Plain>).is_empty());
    }
}
